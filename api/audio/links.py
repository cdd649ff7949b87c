"""Where residents' players fetch audio files: one spelling of the URL for the API's answers and for
what the scheduler sends."""

from __future__ import annotations

from fastapi import Request


def files_url(base_url: str) -> str:
    """The audio files' URL under the API's public base URL."""
    return f"{base_url.rstrip('/')}/api/v1/audio/files"


def audio_base(request: Request, public_base_url: str | None) -> str:
    """The audio files' URL for an answer: under the configured public URL, else the request's own."""
    return files_url(public_base_url or str(request.base_url))


def sent_audio_base(public_base_url: str | None) -> str:
    """The audio files' URL in what the scheduler sends: no request to ask, so the API's own default address
    stands in for an unset public URL."""
    return files_url(public_base_url or "http://127.0.0.1:8000")
