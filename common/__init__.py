"""Dependency-free pieces both runtimes need (the API and gateway on Python 3.11, the Rasa server and
action server on 3.10): nothing here imports `api`, `gateway` or any third-party package."""
