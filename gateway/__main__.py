"""python -m gateway --port 8080 (main environment)."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from api.core.logs import uvicorn_log_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description="Cổng kênh chat (Telegram, Zalo, web)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    # One worker: the outbox and Telegram polling run inside the process.
    # JSON lines with LOG_FORMAT=json.
    # uvicorn's own X-Forwarded-For handling is off: which proxies to believe is decided in one place,
    # TRUSTED_PROXIES (the web chat's signed client address, app.py), not also by FORWARDED_ALLOW_IPS.
    uvicorn.run("gateway.app:create_served_app", factory=True, host=args.host, port=args.port, log_level=args.log_level,
                log_config=uvicorn_log_config() or uvicorn.config.LOGGING_CONFIG, proxy_headers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
