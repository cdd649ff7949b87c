"""Command line: python -m api migrate | seed-content | seed-demo | create-staff | create-api-key |
create-service-credential | revoke-service-credential | purge | rotate-keys | scheduler | serve | make-migration."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from api.core.config import get_settings
from api.core.db import Database


def _database() -> Database:
    return Database.from_settings(get_settings())


def cmd_migrate(_args: argparse.Namespace) -> int:
    from api.core.migrate import upgrade

    db = _database()
    _ensure_sqlite_dir()
    upgrade(db.writer)
    print("Đã cập nhật cấu trúc cơ sở dữ liệu.")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    from api.demo import ensure_demo_admin, seed_demo

    db = _database()
    summary = seed_demo(db, weeks=args.weeks)
    print(f"Dữ liệu MẪU (demo): {summary}")
    from api.audio.demo import seed_placeholder_clips

    clips = seed_placeholder_clips(db, get_settings())
    if clips:
        print(f"Thêm {clips} bản ghi âm MẪU (giọng máy, cần thay bằng bản ghi thật của người nói tiếng dân tộc).")
    credentials = ensure_demo_admin(db, get_settings().database_url)
    if credentials:
        print(f"Tài khoản quản trị demo: xem {credentials}")
    return 0


def cmd_seed_content(_args: argparse.Namespace) -> int:
    from api.content.service import seed_messages
    from api.faq.service import seed_content

    with _database().write() as session:
        added = seed_content(session)
        messages = seed_messages(session)
    print(f"Nội dung hỏi đáp: thêm {added} mục mới; tin nhắn của trợ lý: thêm {messages} (mục đã có giữ nguyên).")
    return 0


def cmd_create_staff(args: argparse.Namespace) -> int:
    from api.staff.service import create_staff
    from common.errors import AppError

    password = args.password or os.environ.get("STAFF_PASSWORD") or getpass.getpass("Mật khẩu: ")
    db = _database()
    try:
        with db.write() as session:
            user = create_staff(
                db=session, actor=None, username=args.username, password=password,
                role=args.role, full_name=args.full_name, commune_id=args.commune_id,
            )
    except AppError as error:
        print(f"Lỗi: {error.detail_message}", file=sys.stderr)
        return 2
    print(f"Đã tạo tài khoản {user.username} ({user.role}).")
    return 0


def cmd_create_api_key(args: argparse.Namespace) -> int:
    import secrets

    from api.records.models import ApiKey
    from api.records.service import api_key_hash

    key = "ksk_" + secrets.token_urlsafe(32)
    with _database().write() as session:
        if session.query(ApiKey).filter_by(name=args.name).first() is not None:
            print(f"Lỗi: đã có khóa tên {args.name}.", file=sys.stderr)
            return 2
        session.add(ApiKey(name=args.name, key_hash=api_key_hash(key)))
    # Shown once: only its hash is stored.
    print(f"Khóa API cho {args.name} (chỉ hiện một lần, hãy lưu lại):\n{key}")
    return 0


def cmd_create_service_credential(args: argparse.Namespace) -> int:
    from api.security.credentials import create

    given = None
    if args.from_env:
        given = os.environ.get(args.from_env, "").strip()
        if not given:
            print(f"Lỗi: biến môi trường {args.from_env} trống.", file=sys.stderr)
            return 2
    try:
        with _database().write() as session:
            secret = create(session, name=args.name, replace=args.replace, secret=given)
    except ValueError as error:
        print(f"Lỗi: {error}", file=sys.stderr)
        return 2
    if given:  # already known to whoever set the variable: not printed again
        print(f"Đã đăng ký khóa dịch vụ {args.name} từ {args.from_env}.")
        return 0
    # Alone on stdout, so scripts can capture it; only its hash is stored.
    print(secret)
    return 0


def cmd_revoke_service_credential(args: argparse.Namespace) -> int:
    from api.security.credentials import revoke

    with _database().write() as session:
        count = revoke(session, name=args.name)
    print(f"Đã thu hồi {count} khóa dịch vụ tên {args.name}.")
    return 0 if count else 2


def cmd_purge(_args: argparse.Namespace) -> int:
    from api.privacy.service import purge

    settings = get_settings()
    with _database().write() as session:
        purged = purge(session, settings)
    print(f"Đã xóa dữ liệu quá hạn lưu trữ ({settings.personal_data_retention_days} ngày): {purged}")
    from api.audio.speech import purge_speech

    speech = purge_speech(settings.audio_dir, older_than_s=settings.speech_cache_days * 86400)
    print(f"Đã xóa {speech} tệp giọng đọc tự động không dùng quá {settings.speech_cache_days} ngày.")
    return 0


def cmd_scheduler(args: argparse.Namespace) -> int:
    import logging

    from api.notifications.scheduler import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get("LOG_FORMAT", "").lower() == "json":
        from api.core.logs import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    print(f"Bộ hẹn giờ nhắc lịch đang chạy (mỗi {args.interval:g} giây); Ctrl-C để dừng.", flush=True)
    run(get_settings(), _database(), interval_s=args.interval)
    return 0


def cmd_rotate_keys(_args: argparse.Namespace) -> int:
    from api.core.crypto import Crypto
    from api.privacy.service import rotate_keys

    settings = get_settings()
    if not settings.previous_secret_keys.strip():
        print("Lỗi: đặt SECRET_KEY là khóa mới và PREVIOUS_SECRET_KEYS là khóa cũ rồi chạy lại.", file=sys.stderr)
        return 2
    with _database().write() as session:
        rotated = rotate_keys(session, Crypto.from_settings(settings), settings)
    print(f"Đã mã hóa lại bằng khóa mới: {rotated}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.core.logs import uvicorn_log_config

    uvicorn.run(
        "api.main:create_served_app", factory=True, host=args.host, port=args.port,
        workers=args.workers, log_level=args.log_level, access_log=args.access_log,
        log_config=uvicorn_log_config() or uvicorn.config.LOGGING_CONFIG,
        # uvicorn believes X-Forwarded-* only from the proxies the API itself trusts.
        forwarded_allow_ips=get_settings().trusted_proxies,
    )
    return 0


def cmd_make_migration(args: argparse.Namespace) -> int:
    from api.core.migrate import autogenerate

    autogenerate(_database().writer, args.message)
    return 0


def _ensure_sqlite_dir() -> None:
    url = get_settings().database_url
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description="Khám sức khỏe — API")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    seed = sub.add_parser("seed-demo", help="load demo data (idempotent)")
    seed.add_argument("--weeks", type=int, default=4)
    seed.set_defaults(func=cmd_seed_demo)

    sub.add_parser("seed-content", help="add missing FAQ seed content (never overwrites edits)").set_defaults(
        func=cmd_seed_content)

    staff = sub.add_parser("create-staff", help="create a staff account")
    staff.add_argument("--username", required=True)
    staff.add_argument("--password", help="or STAFF_PASSWORD, or asked interactively")
    staff.add_argument("--role", required=True, choices=["admin", "editor", "station", "cadre"])
    staff.add_argument("--full-name", default="")
    staff.add_argument("--commune-id", type=int)
    staff.set_defaults(func=cmd_create_staff)

    api_key = sub.add_parser("create-api-key", help="create a key for the health information system")
    api_key.add_argument("--name", required=True)
    api_key.set_defaults(func=cmd_create_api_key)

    credential = sub.add_parser("create-service-credential",
                                help="print a credential for our action server (or an outside check acting as it)")
    credential.add_argument("--name", required=True)
    credential.add_argument("--replace", action="store_true", help="revoke earlier credentials of this name")
    credential.add_argument("--from-env", metavar="VAR",
                            help="register the credential in this environment variable (e.g. from a Kubernetes "
                                 "Secret every pod reads) instead of printing a new one")
    credential.set_defaults(func=cmd_create_service_credential)
    revoke = sub.add_parser("revoke-service-credential", help="revoke every credential of a name")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(func=cmd_revoke_service_credential)

    sub.add_parser("purge", help="erase personal data past its retention period (run daily)").set_defaults(
        func=cmd_purge)
    scheduler = sub.add_parser("scheduler", help="send reminders (and announcements) when due; keep it running")
    scheduler.add_argument("--interval", type=float, default=30.0, help="seconds between runs")
    scheduler.set_defaults(func=cmd_scheduler)
    sub.add_parser("rotate-keys", help="re-encrypt and re-hash personal data under SECRET_KEY").set_defaults(
        func=cmd_rotate_keys)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    serve.set_defaults(func=cmd_serve)

    mig = sub.add_parser("make-migration", help="(developers) autogenerate a migration")
    mig.add_argument("message")
    mig.set_defaults(func=cmd_make_migration)

    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
