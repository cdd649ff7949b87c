"""How much of what residents read staff can edit: the keyed texts (seeds of the content store) against
the Vietnamese still written in the code that talks to residents.

A keyed text is a response of `bot/domain.yml` or an entry of `bot/texts/*.yml` (common.wording): the
API seeds its content store from them and staff edit each per language (draft → review → publish).
Anything else in Vietnamese inside resident-facing code — the actions, the Rasa plugins, the gateway
and its web chat, the API's reminder and record-status code — is a sentence staff cannot change, and
is listed here, except: docstrings and comments, log and command-line texts (operators read them),
the words listed in UNDERSTOOD (vocabulary the bot *reads*, never says), and error messages (a class's
`message`, a `raise`'s text, an OpenAPI `description`): errors are the API's contract with every client,
and the ones residents meet reach them only through their code, keyed `error_<code>` (bot/texts/errors.yml).

    .venv/bin/python scripts/resident_texts.py [--root DIR] [--list]

Exit 1 when a hard-coded resident text is found (tests/common/test_wording.py runs it).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# api/notifications' report.py and templates.py are what staff read on the studio's reminder pages (the
# SMS and ZNS texts residents read are the ones staff edit there, kept in the database).
RESIDENT_CODE = ("actions/**/*.py", "bot/*.py", "gateway/**/*.py", "gateway/templates/*", "gateway/static/*.js",
                 "api/records/service.py", "api/notifications/[!rt]*.py", "api/notifications/reminders.py",
                 "api/notifications/router.py")
VIETNAMESE = re.compile(r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE)
# Calls whose texts are for operators (logs, the command line), not residents.
OPERATOR_CALLS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "print", "add_argument",
                            "ArgumentParser", "add_parser", "SystemExit", "echo"})
# Texts in those files that residents never read, by file: vocabulary the bot *reads* in what they
# type, and what staff read (the CSV import's row problems).
NOT_FOR_RESIDENTS: dict[str, frozenset[str]] = {
    # words told apart from "đổi" (change) and from the stop words "dừng", "khỏi" by their marks, never shown
    "actions/form_control.py": frozenset({"đồi", "đôi", "đợi", "đội", "dội", "dồi",
                                          "đúng", "khôi", "khói", "khởi", "khối", "đúng đúng", "đúng ạ",
                                          "nhâm", "nhấm", "nhám", "nhăm", "dũng", "dùng", "dụng", "dừng",
                                          # a yes or no read from the deed's words: negations, words
                                          # that fold into agreeing ones, the words that end a question
                                          "chớ", "đã", "sợ", "bố", "bổ", "sở", "số",
                                          "à", "hả", "hở", "chứ", "nhỉ", "hông", "không", "chưa"}),
    "gateway/messages.py": frozenset({"xin chào"}),  # what "start" means to the assistant, never shown
    "gateway/sms.py": frozenset({"dừng"}),  # a word residents text back to stop reminders
    "api/records/service.py": frozenset({
        "Thiếu số căn cước.", "Ngày sinh chưa đúng, ghi dạng ngày/tháng/năm, ví dụ 05/03/1958.",
        "Trạng thái chưa đúng. Dùng một trong: chưa lập, đã lập, đã khám, đã cập nhật, đã liên kết VNeID.",
        "Ngày cập nhật chưa đúng, ghi dạng ngày/tháng/năm.", "Trùng số căn cước với dòng ", "; dòng này bị bỏ qua.",
        "Giá trị chưa hợp lệ."}),
}
# Strings inside a template's expressions that are shown: what goes through gettext.
_TRANSLATED = re.compile(r"""\b_\(\s*(?:"([^"]*)"|'([^']*)')""")
# Jinja expressions and statements, HTML comments: not text a resident reads as written.
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|<!--.*?-->", re.DOTALL)


def keyed_texts(root: Path) -> dict[str, int]:
    """How many texts each seed file holds."""
    sys.path.insert(0, str(root))
    from common.wording import domain_seeds, text_seeds

    texts_dir, domain = root / "bot" / "texts", root / "bot" / "domain.yml"
    counts = {"bot/domain.yml": len(domain_seeds(domain))}
    if texts_dir.is_dir():
        text_seeds(texts_dir, domain)  # read once to refuse a key seeded twice; then each file is counted
        for path in sorted(texts_dir.glob("*.yml")):
            counts[f"bot/texts/{path.name}"] = len(_keys_of(path))
    return counts


def _keys_of(path: Path) -> set[str]:
    import yaml  # type: ignore[import-untyped]

    return set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("texts") or {})


def hard_coded(root: Path) -> Iterator[tuple[str, int, str]]:
    """(file, line, text) of each Vietnamese text in resident-facing code that is not keyed."""
    for pattern in RESIDENT_CODE:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            if path.suffix == ".py":
                yield from _python_texts(path, relative)
            elif path.is_file():
                yield from _template_texts(path, relative)


def _python_texts(path: Path, relative: str) -> Iterator[tuple[str, int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body and \
                isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skipped.add(id(body[0].value))
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in OPERATOR_CALLS:
                skipped.update(id(inner) for inner in ast.walk(node))
            for keyword in node.keywords:
                if keyword.arg in ("description", "title"):  # OpenAPI documentation
                    skipped.update(id(inner) for inner in ast.walk(keyword.value))
        if isinstance(node, ast.Raise):
            skipped.update(id(inner) for inner in ast.walk(node))
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "message" for t in statement.targets):
                    skipped.update(id(inner) for inner in ast.walk(statement.value))
    understood = NOT_FOR_RESIDENTS.get(relative, frozenset())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skipped \
                and VIETNAMESE.search(node.value) and node.value not in understood:
            yield relative, node.lineno, node.value


def _template_texts(path: Path, relative: str) -> Iterator[tuple[str, int, str]]:
    source = path.read_text(encoding="utf-8")
    if path.suffix == ".js":  # comments are for developers
        source = re.sub(r"/\*.*?\*/|(?<![:\"'])//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), source,
                        flags=re.DOTALL)
    for match in _TRANSLATED.finditer(source):
        text = match.group(1) or match.group(2) or ""
        if VIETNAMESE.search(text):
            yield relative, source.count("\n", 0, match.start()) + 1, text
    source = _TEMPLATE_CODE.sub(lambda m: "\n" * m.group(0).count("\n"), source)
    for number, line in enumerate(source.splitlines(), 1):
        if VIETNAMESE.search(line):
            yield relative, number, line.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--list", action="store_true", help="list every hard-coded text")
    args = parser.parse_args(argv)
    keyed = keyed_texts(args.root)
    found = list(hard_coded(args.root))
    for source, count in keyed.items():
        print(f"{count:5d} keyed   {source}")
    print(f"{len(found):5d} hard-coded in resident-facing code")
    total = sum(keyed.values()) + len(found)
    print(f"editable: {sum(keyed.values())} of {total} resident-facing texts "
          f"({100 * sum(keyed.values()) / max(total, 1):.0f} %)")
    if args.list or found:
        for file, line, text in found:
            print(f"  {file}:{line}: {text[:100]!r}")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
