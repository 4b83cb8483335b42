"""docs/api.md and /openapi.json describe the same API, and the page names every error code.

The checks, each in both directions (what the document has and the page lacks, and what the
page names and the document lacks):
- operations: every (method, path) of /openapi.json is declared on the page, and every one the
  page declares or mentions is served;
- fields: every property of every request and response schema reachable from the operations
  (through `$ref`, `anyOf`/`oneOf`/`allOf`, items and nested objects) is in a field table, and
  every name in a field table is such a property;
- parameters and headers: each operation's parameters are its parameter table; every response
  header and request header of the document is in a header table;
- statuses: each operation's status table lists exactly its statuses in /openapi.json, and for
  each error status exactly the codes it can carry;
- error codes: the page's error table lists exactly the codes the server can answer. Their
  source is `ERROR_CODES` (vaultauth/api/openapi_schemas.py, which /openapi.json's per-operation
  code lists come from) together with every code literal that the server's source raises or
  answers (scanned below), less `NOT_ANSWERED`: codes that never reach an HTTP answer.

The page's conventions that this test reads (keep them when editing docs/api.md):
- An operation is declared by a heading (`##` to `####`) whose text starts with a code span
  holding the method and the path exactly as /openapi.json spells them:
  ### `GET /v1/integrations/{integrationId}/auth/{authId}` -- get
  Its section runs to the next heading of the same or a higher level. Any other code span of
  the form `METHOD /path` on the page (in a table or prose; a query string is ignored) must
  name a served operation too.
- A table's kind is given by its header row (outside fenced blocks; cells are split at `|`
  outside code spans):
  - first cell `field`: a field table. Its first column holds one or more code spans, each a
    field name or a dotted path (`apiKey.key`, `data[].version`), every segment a property name.
  - first cell `parameter`: the parameters of the operation whose section holds it; one code
    span per row (`integrationId`, `limit`, `If-Match`), exactly the operation's parameters.
  - first cell `header`: HTTP headers, one code span per row.
  - cells `status`, `codes`: the status table of the operation whose section holds it; one row
    per status; in an error row the code spans are exactly its codes, `vault_*` and `index_*`
    standing for every code with that prefix.
  - cells `status`, `code`, `when`: the error table; a row's code spans are the codes answered
    with that status (a row whose status is not a number, like `(499)`, names no code).
Each check is also run against a page with one line removed or added, and against a document
with a route or field removed, to prove that it fails and says what is missing where.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from vaultauth.api import create_app
from vaultauth.api.openapi_schemas import ERROR_CODES
from vaultauth.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "api.md"
PACKAGE = ROOT / "vaultauth"

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
# Codes found in the server's source that no HTTP request can be answered with, and why.
NOT_ANSWERED = {
    "invalid_limit": "the service's own bound on limit: over HTTP the route's bound answers "
    "first (422 invalid_field)",
    "unsupported_media_type": "the 415 of Starlette's HTTPException, which nothing raises: "
    "RequestBodyRules answers 415 unsupported_content_encoding itself",
    "error": "VaultauthError's default, raised bare only by resolve() for an OAuth 2.0 "
    "credential without its access token, which the service always passes",
    "invalid_scope": "vaultauth keys create --scope (CLI) only",
    "invalid_policy": "vaultauth policies (CLI) only",
    "missing_integration": "vaultauth policies (CLI) only",
    "missing_scope": "vaultauth keys create (CLI) only",
    "invalid_within": "vaultauth due --within (CLI) only",
    "embedded_vault_failed": "vaultauth dev (CLI) only",
}
# Headers a header table may name although /openapi.json does not: read or answered by the
# middleware outside the routes (vaultauth/api/limits.py, observe.py, methods.py).
OUTSIDE_THE_DOCUMENT = {"content-type", "content-encoding", "x-request-id", "allow"}

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_OPERATION_HEADING = re.compile(rf"^`({'|'.join(METHODS)}) (/[^`\s]*)`")
_MENTION = re.compile(rf"`({'|'.join(METHODS)}) (/[^`\s]*)`")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_FIELD_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\[\])?(\.[A-Za-z][A-Za-z0-9]*(\[\])?)*$")
_CODE = re.compile(r"^[a-z][a-z0-9_]*\*?$")

Operation = tuple[str, str]  # ("GET", "/v1/auth/due")


# -- reading the page -----------------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    """A table row's cells, split at `|` outside code spans."""
    cells: list[str] = []
    current: list[str] = []
    ticks = 0  # the length of the backtick run that opened the code span we are in, or 0
    i = 0
    text = line.strip()
    while i < len(text):
        char = text[i]
        if char == "`":
            run = len(text[i:]) - len(text[i:].lstrip("`"))
            if ticks == 0:
                ticks = run
            elif run == ticks:
                ticks = 0
            current.append("`" * run)
            i += run
            continue
        if char == "|" and ticks == 0:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(char)
        i += 1
    cells.append("".join(current).strip())
    return cells[1:-1] if text.startswith("|") and text.endswith("|") else cells


def _spans(cell: str) -> list[str]:
    return [match.group(2).strip() for match in _CODE_SPAN.finditer(cell)]


@dataclass
class Table:
    line: int  # 1-based line of the header row
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (1-based line, cells)
    section: Operation | None  # the operation whose section holds it

    @property
    def kind(self) -> str:
        names = [cell.lower() for cell in self.header]
        if names[:1] == ["field"]:
            return "field"
        if names[:1] == ["parameter"]:
            return "parameter"
        if names[:1] == ["header"]:
            return "header"
        if names[:2] == ["status", "codes"]:
            return "status"
        if names[:3] == ["status", "code", "when"]:
            return "errors"
        return "other"


@dataclass
class Page:
    operations: dict[Operation, list[int]] = field(default_factory=dict)  # -> heading lines
    mentions: list[tuple[int, Operation]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def of_kind(self, kind: str) -> Iterator[Table]:
        return (table for table in self.tables if table.kind == kind)


def read_page(text: str) -> Page:
    page = Page()
    section: tuple[int, Operation] | None = None  # (heading level, operation)
    in_fence: str | None = None
    table: Table | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if in_fence is not None:
            if fence and fence.group(1)[0] == in_fence[0] and len(fence.group(1)) >= len(in_fence):
                in_fence = None
            continue
        if fence:
            in_fence = fence.group(1)
            table = None
            continue
        if line.startswith("|"):
            cells = _cells(line)
            if table is None:
                table = Table(number, cells, [], section[1] if section else None)
                page.tables.append(table)
            elif not all(set(cell) <= set(":- ") for cell in cells):  # not the |---| row
                table.rows.append((number, cells))
        else:
            table = None
        heading = _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            declared = _OPERATION_HEADING.match(heading.group(2))
            if declared:
                operation = (declared.group(1), declared.group(2))
                page.operations.setdefault(operation, []).append(number)
                section = (level, operation)
            elif section is not None and level <= section[0]:
                section = None
            continue
        for match in _MENTION.finditer(line):
            page.mentions.append((number, (match.group(1), match.group(2).split("?")[0])))
    return page


# -- reading the document -------------------------------------------------------------------------


def _resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def operations_of(spec: dict[str, Any]) -> dict[Operation, dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }


def _schemas_of(operation: dict[str, Any]) -> Iterator[Any]:
    for media in operation.get("requestBody", {}).get("content", {}).values():
        yield media.get("schema", {})
    for response in operation["responses"].values():
        for media in response.get("content", {}).values():
            yield media.get("schema", {})


# Keywords whose values are data, not schemas: a key inside them is no property.
_DATA_KEYWORDS = {"examples", "example", "enum", "const", "default", "description", "required"}


def properties_of(spec: dict[str, Any]) -> dict[str, set[str]]:
    """Every property name reachable from the operations' bodies -> where it is defined."""
    found: dict[str, set[str]] = {}
    seen: set[str] = set()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            seen.add(ref)
            walk(_resolve(spec, ref), ref.rsplit("/", 1)[-1])
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                continue
            if key == "properties" and isinstance(value, dict):
                for name, schema in value.items():
                    found.setdefault(name, set()).add(where)
                    walk(schema, where)
            else:
                walk(value, where)

    for (method, path), operation in operations_of(spec).items():
        for schema in _schemas_of(operation):
            walk(schema, f"{method} {path}")
    return found


def header_names_of(spec: dict[str, Any]) -> set[str]:
    """Request headers (parameters, the API key) and response headers of the document."""
    names = {
        scheme["name"]
        for scheme in spec.get("components", {}).get("securitySchemes", {}).values()
        if scheme.get("in") == "header"
    }
    for operation in operations_of(spec).values():
        names |= {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        for response in operation["responses"].values():
            names |= set(response.get("headers", {}))
    return names


def error_codes_of(response: dict[str, Any]) -> list[str] | None:
    """The codes an error answer can carry, or None when its body is not the error shape."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    enum = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
    codes = enum.get("enum")
    return list(codes) if isinstance(codes, list) else None


# -- the codes the server can answer --------------------------------------------------------------


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _name_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def codes_in_source(sources: dict[str, str]) -> dict[str, set[str]]:
    """Error codes the given modules (name -> source) raise or answer -> where.

    A code counts when it is the literal `code=` of a call, the literal second argument of
    `error_response(status, code, ...)`, a value of the `_HTTP_CODES` table, or the class
    default (`code = "..."`, inherited) of an error class constructed without `code=`.
    """
    trees = {name: ast.parse(source) for name, source in sources.items()}
    defaults: dict[str, str] = {}
    bases: dict[str, list[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [b for b in map(_name_of, node.bases) if b]
                for statement in node.body:
                    if (
                        isinstance(statement, ast.Assign)
                        and [_name_of(t) for t in statement.targets] == ["code"]
                        and _literal(statement.value) is not None
                    ):
                        defaults[node.name] = str(_literal(statement.value))

    def default_of(cls: str, depth: int = 0) -> str | None:
        if cls in defaults:
            return defaults[cls]
        for base in bases.get(cls, []) if depth < 20 else []:
            code = default_of(base, depth + 1)
            if code is not None:
                return code
        return None

    found: dict[str, set[str]] = {}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            codes: list[str | None] = []
            if isinstance(node, ast.Call):
                called = _name_of(node.func)
                keywords = {k.arg: k.value for k in node.keywords}
                if "code" in keywords:
                    codes.append(_literal(keywords["code"]))
                elif called in bases:
                    codes.append(default_of(called))
                if called == "error_response" and len(node.args) >= 2:
                    codes.append(_literal(node.args[1]))
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                if [_name_of(t) for t in node.targets] == ["_HTTP_CODES"]:
                    codes.extend(_literal(value) for value in node.value.values)
            for code in codes:
                if code is not None:
                    found.setdefault(code, set()).add(name)
    return found


def server_sources() -> dict[str, str]:
    """The server's modules: the package but the client library (which answers no HTTP)."""
    return {
        path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
        if "client" not in path.relative_to(PACKAGE).parts
    }


def answerable_codes(sources: dict[str, str]) -> dict[str, str]:
    """Every code the server can answer -> where it comes from."""
    codes = {code: "ERROR_CODES" for code in ERROR_CODES}
    for code, places in codes_in_source(sources).items():
        if code not in NOT_ANSWERED:
            codes.setdefault(code, ", ".join(sorted(places)))
    return codes


# -- the checks: each returns its problems, one line each ------------------------------------------


def check_operations(page: Page, spec: dict[str, Any]) -> list[str]:
    served = set(operations_of(spec))
    problems = [
        f"{method} {path}: in /openapi.json, but no heading of docs/api.md declares it "
        f"(### `{method} {path}` -- ...)"
        for method, path in sorted(served - set(page.operations))
    ]
    for (method, path), lines in sorted(page.operations.items()):
        if (method, path) not in served:
            problems.append(
                f"docs/api.md:{lines[0]}: declares {method} {path}, which /openapi.json lacks"
            )
        if len(lines) > 1:
            problems.append(f"docs/api.md:{lines}: {method} {path} is declared more than once")
    for line, (method, path) in page.mentions:
        if (method, path) not in served:
            problems.append(f"docs/api.md:{line}: mentions {method} {path}, which is not served")
    return problems


def check_fields(page: Page, spec: dict[str, Any]) -> list[str]:
    properties = properties_of(spec)
    named: dict[str, int] = {}
    problems = []
    for table in page.of_kind("field"):
        for line, cells in table.rows:
            spans = _spans(cells[0]) if cells else []
            if not spans:
                problems.append(f"docs/api.md:{line}: a field table row without a field name")
            for span in spans:
                if not _FIELD_PATH.match(span):
                    problems.append(f"docs/api.md:{line}: `{span}` is not a field name or path")
                    continue
                for segment in span.split("."):
                    name = segment.removesuffix("[]")
                    named.setdefault(name, line)
    for name, line in sorted(named.items(), key=lambda item: item[1]):
        if name not in properties:
            problems.append(
                f"docs/api.md:{line}: field `{name}` is in no request or response schema of "
                "/openapi.json"
            )
    for name, places in sorted(properties.items()):
        if name not in named:
            problems.append(
                f"field `{name}` (of {', '.join(sorted(places))}) is in no field table of "
                "docs/api.md"
            )
    return problems


def check_parameters(page: Page, spec: dict[str, Any]) -> list[str]:
    operations = operations_of(spec)
    documented: dict[Operation, dict[str, int]] = {}
    problems = []
    for table in page.of_kind("parameter"):
        if table.section is None:
            problems.append(f"docs/api.md:{table.line}: a parameter table outside any operation")
            continue
        for line, cells in table.rows:
            spans = _spans(cells[0]) if cells else []
            if len(spans) != 1:
                problems.append(f"docs/api.md:{line}: a parameter row names one parameter")
                continue
            documented.setdefault(table.section, {})[spans[0]] = line
    for (method, path), operation in sorted(operations.items()):
        expected = {p["name"] for p in operation.get("parameters", [])}
        listed = documented.get((method, path), {})
        for name in sorted(expected - set(listed)):
            problems.append(
                f"{method} {path}: parameter `{name}` is in /openapi.json but not in the "
                "operation's parameter table"
            )
        for name in sorted(set(listed) - expected):
            problems.append(
                f"docs/api.md:{listed[name]}: parameter `{name}` of {method} {path} is not in "
                "/openapi.json"
            )
    return problems


def check_headers(page: Page, spec: dict[str, Any]) -> list[str]:
    expected = {name.lower(): name for name in header_names_of(spec)}
    listed: dict[str, tuple[int, str]] = {}  # lower-case name -> (line, name as written)
    problems = []
    for table in page.of_kind("header"):
        for line, cells in table.rows:
            spans = _spans(cells[0]) if cells else []
            if len(spans) != 1:
                problems.append(f"docs/api.md:{line}: a header row names one header")
                continue
            listed[spans[0].lower()] = (line, spans[0])
    for key, name in sorted(expected.items()):
        if key not in listed:
            problems.append(f"header `{name}` is in /openapi.json but in no header table")
    for key, (line, name) in sorted(listed.items(), key=lambda item: item[1]):
        if key not in expected and key not in OUTSIDE_THE_DOCUMENT:
            problems.append(f"docs/api.md:{line}: header `{name}` is not in /openapi.json")
    return problems


def _expand(tokens: list[str], codes: set[str]) -> tuple[set[str], list[str]]:
    """Codes named by `tokens` (`vault_*` is every code with that prefix), and bad tokens."""
    named: set[str] = set()
    bad = []
    for token in tokens:
        if token.endswith("*"):
            matching = {code for code in codes if code.startswith(token[:-1])}
            named |= matching
            if not matching:
                bad.append(token)
        else:
            named.add(token)
    return named, bad


def check_statuses(page: Page, spec: dict[str, Any], codes: set[str]) -> list[str]:
    operations = operations_of(spec)
    tables: dict[Operation, list[Table]] = {}
    problems = []
    for table in page.of_kind("status"):
        if table.section is None:
            problems.append(f"docs/api.md:{table.line}: a status table outside any operation")
        else:
            tables.setdefault(table.section, []).append(table)
    for (method, path), operation in sorted(operations.items()):
        where = f"{method} {path}"
        found = tables.get((method, path), [])
        if len(found) != 1:
            if (method, path) in page.operations:
                problems.append(f"{where}: needs exactly one status table, has {len(found)}")
            continue
        rows: dict[str, tuple[int, list[str]]] = {}
        for line, cells in found[0].rows:
            rows[cells[0] if cells else ""] = (line, cells)
        responses = operation["responses"]
        for status in sorted(set(responses) - set(rows)):
            problems.append(f"{where}: status {status} is in /openapi.json, not in its table")
        for status in sorted(set(rows) - set(responses)):
            problems.append(
                f"docs/api.md:{rows[status][0]}: {where} answers no status {status!r} in "
                "/openapi.json"
            )
        for status in sorted(set(rows) & set(responses)):
            expected = error_codes_of(responses[status])
            if expected is None:
                continue
            line, cells = rows[status]
            tokens = [span for cell in cells[1:] for span in _spans(cell) if _CODE.match(span)]
            named, bad = _expand(tokens, codes)
            for token in bad:
                problems.append(f"docs/api.md:{line}: `{token}` stands for no code")
            for code in sorted(set(expected) - named):
                problems.append(
                    f"{where}: {status} `{code}` is in /openapi.json, not in its status table"
                )
            for code in sorted(named - set(expected)):
                problems.append(
                    f"docs/api.md:{line}: {where} does not answer {status} `{code}` in "
                    "/openapi.json"
                )
    return problems


def check_error_table(page: Page, spec: dict[str, Any], codes: dict[str, str]) -> list[str]:
    statuses: dict[str, set[str]] = {}  # code -> the statuses /openapi.json gives it
    for operation in operations_of(spec).values():
        for status, response in operation["responses"].items():
            for code in error_codes_of(response) or []:
                statuses.setdefault(code, set()).add(status)
    tables = list(page.of_kind("errors"))
    if len(tables) != 1:
        return [
            f"docs/api.md: needs exactly one error table (status | code | when), has {len(tables)}"
        ]
    listed: dict[str, int] = {}
    problems = []
    for line, cells in tables[0].rows:
        status = cells[0] if cells else ""
        named = [span for span in _spans(cells[1]) if _CODE.match(span)] if len(cells) > 1 else []
        if not status.isdigit():
            if named:
                problems.append(f"docs/api.md:{line}: codes in a row without a status")
            continue
        for code in named:
            if code in listed:
                problems.append(f"docs/api.md:{line}: `{code}` is listed twice")
            listed[code] = line
            if code in statuses and status not in statuses[code]:
                problems.append(
                    f"docs/api.md:{line}: `{code}` is answered with "
                    f"{', '.join(sorted(statuses[code]))} in /openapi.json, not {status}"
                )
    for code, origin in sorted(codes.items()):
        if code not in listed:
            problems.append(f"error code `{code}` ({origin}) is not in the error table")
    for code, line in sorted(listed.items(), key=lambda item: item[1]):
        if code not in codes:
            problems.append(f"docs/api.md:{line}: `{code}` is not a code the server answers")
    return problems


# -- the tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    # The document needs no runtime. /metrics is on the API port unless a port of its own is set.
    document: dict[str, Any] = create_app(Settings(metrics_port=None)).openapi()
    return document


@pytest.fixture(scope="module")
def text() -> str:
    return PAGE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def codes() -> dict[str, str]:
    return answerable_codes(server_sources())


def _report(problems: list[str]) -> str:
    return "docs/api.md and /openapi.json disagree:\n" + "\n".join(problems)


def test_every_operation_is_on_the_page_and_served(text: str, spec: dict[str, Any]) -> None:
    problems = check_operations(read_page(text), spec)
    assert not problems, _report(problems)


def test_every_field_is_on_the_page_and_in_a_schema(text: str, spec: dict[str, Any]) -> None:
    problems = check_fields(read_page(text), spec)
    assert not problems, _report(problems)


def test_every_parameter_and_header_is_on_the_page(text: str, spec: dict[str, Any]) -> None:
    page = read_page(text)
    problems = check_parameters(page, spec) + check_headers(page, spec)
    assert not problems, _report(problems)


def test_each_operation_lists_its_statuses_and_codes(
    text: str, spec: dict[str, Any], codes: dict[str, str]
) -> None:
    problems = check_statuses(read_page(text), spec, set(codes))
    assert not problems, _report(problems)


def test_the_error_table_lists_every_code_the_server_answers(
    text: str, spec: dict[str, Any], codes: dict[str, str]
) -> None:
    problems = check_error_table(read_page(text), spec, codes)
    assert not problems, _report(problems)


def test_every_code_in_the_source_is_answerable_or_explained() -> None:
    """A code the server's source can raise is on the page, or in NOT_ANSWERED with a reason;
    NOT_ANSWERED holds only codes the source has, none of them an operation's."""
    found = codes_in_source(server_sources())
    assert set(NOT_ANSWERED) <= set(found), set(NOT_ANSWERED) - set(found)
    assert not set(NOT_ANSWERED) & set(ERROR_CODES)
    # The server's own answers, outside any operation, are found by the scan.
    assert {"method_not_allowed", "internal_error", "not_found"} <= set(found)


# -- each check fails on a broken page or document, and says what is missing where ----------------

_RESOLVE = "/v1/integrations/{integrationId}/auth/{authId}/resolve"
_DELETE_PATH = "/v1/integrations/{integrationId}/auth/{authId}"


def _without_rows(kind: str, name: str) -> Callable[[str], str]:
    """The page without the rows of `kind` tables that name `name` (in the code column of the
    error table, else in the first; in a field table, as a segment of a path too)."""
    column = 1 if kind == "errors" else 0

    def names(cell: str) -> set[str]:
        spans = _spans(cell)
        if kind == "field":
            return {segment.removesuffix("[]") for span in spans for segment in span.split(".")}
        return set(spans)

    def mutate(text: str) -> str:
        page = read_page(text)
        drop = {
            line
            for table in page.of_kind(kind)
            for line, cells in table.rows
            if len(cells) > column and name in names(cells[column])
        }
        assert drop, f"no {kind} row names {name}"
        return "\n".join(t for n, t in enumerate(text.splitlines(), start=1) if n not in drop)

    return mutate


def _without_line(line: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert line in text.splitlines(), line
        return "\n".join(t for t in text.splitlines() if t != line)

    return mutate


def _replaced(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return mutate


def _after_table_header(kind: str, row: str) -> Callable[[str], str]:
    """The page with `row` added to the first table of `kind`."""

    def mutate(text: str) -> str:
        table = next(read_page(text).of_kind(kind))
        lines = text.splitlines()
        lines.insert(table.line + 1, row)  # after the header and its |---| row
        return "\n".join(lines)

    return mutate


def _heading_of(method: str, path: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        heading = next(
            t for t in text.splitlines() if t.startswith("#") and f"`{method} {path}`" in t
        )
        return _without_line(heading)(text)

    return mutate


def _without_path(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        del spec["paths"][path]

    return mutate


def _without_property(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        def walk(node: Any) -> None:
            if isinstance(node, dict):
                props = node.get("properties")
                if isinstance(props, dict):
                    props.pop(name, None)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(spec)

    return mutate


def _without_response_header(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(spec: dict[str, Any]) -> None:
        for operation in operations_of(spec).values():
            for response in operation["responses"].values():
                response.get("headers", {}).pop(name, None)

    return mutate


Check = Callable[[Page, dict[str, Any], dict[str, str]], list[str]]
CHECKS: dict[str, Check] = {
    "operations": lambda page, spec, codes: check_operations(page, spec),
    "fields": lambda page, spec, codes: check_fields(page, spec),
    "parameters": lambda page, spec, codes: check_parameters(page, spec),
    "headers": lambda page, spec, codes: check_headers(page, spec),
    "statuses": lambda page, spec, codes: check_statuses(page, spec, set(codes)),
    "errors": check_error_table,
}


def _page_as_is(text: str) -> str:
    return text


def _document_as_is(spec: dict[str, Any]) -> None:
    pass


# (id, check, a change to the page, a change to the document, what the failure must say)
BROKEN: list[tuple[str, str, Callable[[str], str], Callable[[dict[str, Any]], None], str]] = [
    (
        "an operation missing from the page",
        "operations",
        _heading_of("POST", _RESOLVE),
        _document_as_is,
        f"POST {_RESOLVE}: in /openapi.json, but no heading",
    ),
    (
        "an operation the server lacks",
        "operations",
        _replaced("### `GET /v1/auth/due`", "### `PUT /v1/auth/due`"),
        _document_as_is,
        "declares PUT /v1/auth/due, which /openapi.json lacks",
    ),
    (
        "a route removed from the server",
        "operations",
        _page_as_is,
        _without_path("/v1/auth/due"),
        "declares GET /v1/auth/due, which /openapi.json lacks",
    ),
    (
        "a mention of an operation the server lacks",
        "operations",
        _replaced("e.g. `PUT` on a record", "e.g. `PUT /v1/integrations` on a record"),
        _document_as_is,
        "mentions PUT /v1/integrations, which is not served",
    ),
    (
        "a field missing from the page",
        "fields",
        _without_rows("field", "audience"),
        _document_as_is,
        "field `audience` (of OAuth2ClientCredentialsIn, OAuth2Out, OAuth2Patch) is in no field",
    ),
    (
        "a nested field missing from the page",
        "fields",
        _without_rows("field", "available"),
        _document_as_is,
        "field `available` (of VersionOut) is in no field table",
    ),
    (
        "a field the server lacks",
        "fields",
        _after_table_header("field", "| `refreshTokenExpiresAt` | date-time | |"),
        _document_as_is,
        "field `refreshTokenExpiresAt` is in no request or response schema",
    ),
    (
        "a field removed from the server",
        "fields",
        _page_as_is,
        _without_property("clientAuth"),
        "field `clientAuth` is in no request or response schema",
    ),
    (
        "a parameter missing from the page",
        "parameters",
        _without_rows("parameter", "cursor"),
        _document_as_is,
        "GET /v1/auth/due: parameter `cursor` is in /openapi.json but not in",
    ),
    (
        "a parameter the server lacks",
        "parameters",
        _replaced("| `before` | query |", "| `after` | query |"),
        _document_as_is,
        "parameter `after` of GET /v1/auth/due is not in /openapi.json",
    ),
    (
        "a response header missing from the page",
        "headers",
        _without_rows("header", "Cache-Control"),
        _document_as_is,
        "header `Cache-Control` is in /openapi.json but in no header table",
    ),
    (
        "a response header the server lacks",
        "headers",
        _page_as_is,
        _without_response_header("ETag"),
        "header `ETag` is not in /openapi.json",
    ),
    (
        "a status missing from an operation",
        "statuses",
        _without_line("| 204 | deleted: no body |"),
        _document_as_is,
        f"DELETE {_DELETE_PATH}: status 204 is in /openapi.json, not in its table",
    ),
    (
        "a code missing from an operation",
        "statuses",
        _replaced("| 422 | `invalid_id`, `token_url_not_allowed` |", "| 422 | `invalid_id` |"),
        _document_as_is,
        f"POST {_RESOLVE}: 422 `token_url_not_allowed` is in /openapi.json, not in its status",
    ),
    (
        "a code an operation does not answer",
        "statuses",
        _replaced(
            "| 409 | `conflict`, `idempotency_in_progress` |",
            "| 409 | `conflict`, `idempotency_in_progress`, `precondition_failed` |",
        ),
        _document_as_is,
        "does not answer 409 `precondition_failed` in /openapi.json",
    ),
    (
        "an error code missing from the error table",
        "errors",
        _without_rows("errors", "internal_error"),
        _document_as_is,
        "error code `internal_error` (vaultauth/api/observe.py) is not in the error table",
    ),
    (
        "an error code of the document missing from the error table",
        "errors",
        _replaced("| 503 | `oauth_disabled` |", "| 503 | oauth_disabled |"),
        _document_as_is,
        "error code `oauth_disabled` (ERROR_CODES) is not in the error table",
    ),
    (
        "an error code the server never answers",
        "errors",
        _after_table_header("errors", "| 418 | `teapot` | never |"),
        _document_as_is,
        "`teapot` is not a code the server answers",
    ),
    (
        "an error code with another status",
        "errors",
        _replaced("| 412 | `precondition_failed` |", "| 409 | `precondition_failed` |"),
        _document_as_is,
        "`precondition_failed` is answered with 412 in /openapi.json, not 409",
    ),
]


@pytest.mark.parametrize(
    ("check", "break_page", "break_spec", "says"),
    [entry[1:] for entry in BROKEN],
    ids=[entry[0] for entry in BROKEN],
)
def test_each_check_fails_on_a_broken_page_or_document(
    text: str,
    spec: dict[str, Any],
    codes: dict[str, str],
    check: str,
    break_page: Callable[[str], str],
    break_spec: Callable[[dict[str, Any]], None],
    says: str,
) -> None:
    assert not CHECKS[check](read_page(text), spec, codes), "the page is broken already"
    broken_spec = copy.deepcopy(spec)
    break_spec(broken_spec)
    problems = CHECKS[check](read_page(break_page(text)), broken_spec, codes)
    assert any(says in problem for problem in problems), "\n".join(problems) or "no problem"


def test_a_new_code_in_the_source_must_be_on_the_page(text: str, spec: dict[str, Any]) -> None:
    sources = {
        **server_sources(),
        "vaultauth/new.py": 'raise InvalidInput("no", code="brand_new")\n'
        "raise Unavailable('quiet')\n",
    }
    codes = answerable_codes(sources)
    problems = check_error_table(read_page(text), spec, codes)
    assert "error code `brand_new` (vaultauth/new.py) is not in the error table" in problems
    # An error class constructed without `code=` answers its class's default code.
    assert "error code `unavailable` (vaultauth/new.py) is not in the error table" in problems
