"""Who is calling: service credentials, the gateway-signed chat identity, request limits and the
alerts they raise for staff. Below every domain: domains ask it, it asks none of them."""
