"""A local fake of a brand-name SMS provider's JSON API (gateway/sms.py JsonSmsProvider), served over real
HTTP: records what it accepted; numbers or the next sends can be told to answer a provider code or an
HTTP status."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.fakes import LocalFake, serving

API_KEY, SECRET_KEY, BRAND, WEBHOOK_SECRET = "sms-key", "sms-secret", "KHAMSUCKHOE", "w" * 24


@dataclass
class FakeSms(LocalFake):
    sent: list[dict[str, Any]] = field(default_factory=list)
    numbers: dict[str, str] = field(default_factory=dict)  # phone -> CodeResult every time
    plan: list[Any] = field(default_factory=list)           # next answers: a CodeResult or an HTTP status

    def gateway_settings(self) -> dict[str, Any]:
        return {"sms_url": f"{self.base}/send", "sms_brand": BRAND, "sms_api_key": API_KEY,
                "sms_secret_key": SECRET_KEY, "sms_webhook_secret": WEBHOOK_SECRET}

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/send")
        async def send(request: Request) -> JSONResponse:
            body = await request.json()
            if body.get("ApiKey") != API_KEY or body.get("SecretKey") != SECRET_KEY:
                return JSONResponse({"CodeResult": "101", "ErrorMessage": "Authorize failed"})
            answer = self.plan.pop(0) if self.plan else self.numbers.get(str(body.get("Phone")), "100")
            if isinstance(answer, int):
                return JSONResponse({"error": "down"}, status_code=answer)
            if answer != "100":
                return JSONResponse({"CodeResult": answer, "ErrorMessage": f"fake code {answer}"})
            self.sent.append(body)
            return JSONResponse({"CodeResult": "100", "SMSID": f"sms-{len(self.sent)}"})

        return app


def running_fake_sms() -> AbstractContextManager[FakeSms]:
    return serving(FakeSms())
