"""A local fake of the Zalo OA API v3 and its OAuth token endpoint, served over real HTTP.

Access tokens are `access-N`; each refresh hands out the next pair and retires the refresh token used
(as Zalo does). The next sends can be told to answer an error code (-216, -32, -213…) or a 5xx."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.fakes import LocalFake, serving

APP_SECRET = "zalo-app-secret"
APP_ID, OA_SECRET = "1234567890", "oa-secret-key"


@dataclass
class FakeOa(LocalFake):
    generation: int = 1
    refresh_token: str = "refresh-1"
    sent: list[dict[str, Any]] = field(default_factory=list)          # accepted messages
    attempts: list[str] = field(default_factory=list)                 # access token of every send
    refreshes: list[str] = field(default_factory=list)                # refresh tokens presented
    plan: list[Any] = field(default_factory=list)                     # next answers: error code or HTTP status
    # ZNS: accepted template messages, and numbers answered with a ZNS error code (-118: not on Zalo…)
    # or an HTTP status, every time (a number's state) or once (`zns_plan`, the next sends).
    zns_sent: list[dict[str, Any]] = field(default_factory=list)
    zns_numbers: dict[str, int] = field(default_factory=dict)
    zns_plan: list[int] = field(default_factory=list)
    uploads: list[bytes] = field(default_factory=list)                # images uploaded; ids are att-1, att-2…

    @property
    def access_token(self) -> str:
        return f"access-{self.generation}"

    def gateway_settings(self) -> dict[str, Any]:
        """The gateway settings that point its Zalo channel at this fake."""
        return {"zalo_app_id": APP_ID, "zalo_app_secret": APP_SECRET, "zalo_oa_secret_key": OA_SECRET,
                "zalo_refresh_token": "refresh-1", "zalo_api_base": self.base, "zalo_oauth_base": self.base,
                "zalo_zns_base": self.base, "zalo_oa_id": "ksk-oa"}

    def app(self) -> FastAPI:
        return _app(self)


def signed_event(text: str, user: str, msg_id: str, timestamp_ms: int | None = None
                 ) -> tuple[bytes, dict[str, str]]:
    """A "user_send_text" webhook as Zalo signs it: (body, headers), stamped now unless told otherwise
    (the gateway refuses stale events)."""
    from gateway.zalo import signature

    timestamp_ms = timestamp_ms or int(time.time() * 1000)
    raw = json.dumps({"app_id": APP_ID, "event_name": "user_send_text", "timestamp": str(timestamp_ms),
                      "sender": {"id": user}, "recipient": {"id": "oa-1"},
                      "message": {"text": text, "msg_id": msg_id}}).encode()
    return raw, {"X-ZEvent-Signature": signature(APP_ID, raw, str(timestamp_ms), OA_SECRET),
                 "content-type": "application/json"}


def _app(fake: FakeOa) -> FastAPI:
    app = FastAPI()

    @app.post("/v4/oa/access_token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        fake.refreshes.append(str(form.get("refresh_token")))
        if request.headers.get("secret_key") != APP_SECRET or form.get("refresh_token") != fake.refresh_token:
            return JSONResponse({"error": -14014, "error_name": "invalid refresh token"})
        fake.generation += 1
        fake.refresh_token = f"refresh-{fake.generation}"
        return JSONResponse({"access_token": fake.access_token, "refresh_token": fake.refresh_token,
                             "expires_in": "90000"})

    @app.post("/v3.0/oa/message/cs")
    async def send(request: Request) -> JSONResponse:
        access = request.headers.get("access_token", "")
        fake.attempts.append(access)
        if fake.plan:
            planned = fake.plan.pop(0)
            if planned >= 500:
                return JSONResponse({"error": -1}, status_code=planned)
            return JSONResponse({"error": planned, "message": f"fake error {planned}"})
        if access != fake.access_token:
            return JSONResponse({"error": -216, "message": "Access token is invalid"})
        fake.sent.append(await request.json())
        return JSONResponse({"error": 0, "message": "Success", "data": {"message_id": str(len(fake.sent))}})

    @app.post("/v2.0/oa/upload/image")
    async def upload_image(request: Request) -> JSONResponse:
        if request.headers.get("access_token", "") != fake.access_token:
            return JSONResponse({"error": -216, "message": "Access token is invalid"})
        upload = (await request.form()).get("file")
        if upload is None or isinstance(upload, str):
            return JSONResponse({"error": -201, "message": "file is missing"})
        fake.uploads.append(await upload.read())
        return JSONResponse({"error": 0, "message": "Success",
                             "data": {"attachment_id": f"att-{len(fake.uploads)}"}})

    @app.post("/message/template")
    async def template(request: Request) -> JSONResponse:
        """ZNS: a template message to a phone number."""
        access = request.headers.get("access_token", "")
        body = await request.json()
        answer = fake.zns_plan.pop(0) if fake.zns_plan else fake.zns_numbers.get(str(body.get("phone")), 0)
        if answer >= 500:
            return JSONResponse({"error": -1}, status_code=answer)
        if answer:
            return JSONResponse({"error": answer, "message": f"fake ZNS error {answer}"})
        if access != fake.access_token:
            return JSONResponse({"error": -124, "message": "Access token is invalid"})
        fake.zns_sent.append(body)
        sent_ms = str(int(time.time() * 1000))
        return JSONResponse({"error": 0, "message": "Success",
                             "data": {"msg_id": f"zns-{len(fake.zns_sent)}", "sent_time": sent_ms}})

    return app


def signed_delivery(tracking_id: str, timestamp_ms: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Zalo's "user_received_message" webhook for a ZNS message, signed: (body, headers)."""
    from gateway.zalo import signature

    timestamp_ms = timestamp_ms or int(time.time() * 1000)
    raw = json.dumps({"app_id": APP_ID, "event_name": "user_received_message", "timestamp": str(timestamp_ms),
                      "sender": {"id": "oa-1"}, "recipient": {"id": "u-1"},
                      "message": {"msg_id": "zns-1", "tracking_id": tracking_id,
                                  "delivery_time": str(timestamp_ms)}}).encode()
    return raw, {"X-ZEvent-Signature": signature(APP_ID, raw, str(timestamp_ms), OA_SECRET),
                 "content-type": "application/json"}


def running_fake_oa() -> AbstractContextManager[FakeOa]:
    return serving(FakeOa())
