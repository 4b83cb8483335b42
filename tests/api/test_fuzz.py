"""Property-based fuzzing of /openapi.json against a real facade on a real OpenBao.

Schemathesis runs in-process as its CLI would (`schemathesis run --checks all --mode all`):
every phase (examples, coverage, fuzzing, and the stateful phase, which follows the document's
links from a created record to its GET, PATCH, resolve and DELETE), valid and invalid input,
with every check: no 5xx; every status, header and answer as documented; valid input accepted;
invalid input refused; a deleted record gone; the key enforced; undocumented methods 405 with
`Allow`. Derandomized: every run sends the same requests.

The only failures forgiven are `EXCLUSIONS`: rules JSON Schema cannot express (the document
states each in a description), each forgiven only where its own error code or condition shows.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs
import schemathesis
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core import NotSet
from schemathesis.engine import events, from_schema

from tests.support.live import serve_in_thread
from vaultauth.api import create_app
from vaultauth.settings import Settings

log = logging.getLogger(__name__)

MAX_EXAMPLES = 300  # per operation and phase; the run takes about a minute
SEED = 20240501
PHASES = ("examples", "coverage", "fuzzing", "stateful")
CREATE = ("POST", "/v1/integrations/{integrationId}/auth")
LIST = ("GET", "/v1/integrations/{integrationId}/auth")
UPDATE = ("PATCH", "/v1/integrations/{integrationId}/auth/{authId}")
DUE = ("GET", "/v1/auth/due")
DELETE = ("DELETE", "/v1/integrations/{integrationId}/auth/{authId}")
ROLLBACK = ("POST", "/v1/integrations/{integrationId}/auth/{authId}/rollback")


def _error_code(response: schemathesis.Response) -> str | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _operation(case: schemathesis.Case) -> tuple[str, str]:
    return case.method.upper(), case.operation.path


@dataclass(frozen=True)
class Exclusion:
    """A rule the document can only state in words, and where a failure shows that rule."""

    rule: str
    why_not_in_json_schema: str
    check: str
    applies: Callable[[schemathesis.Case, schemathesis.Response, Document], bool]


class Document:
    """/openapi.json, for what the exclusions need to know of it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        schemas = raw["components"]["schemas"]
        common = set(schemas["NoAuthCreate"]["properties"])
        # authType -> its credential fields, read from the create body's variants.
        self.credential_fields: dict[str, set[str]] = {}
        mapping = schemas["AuthCreateBody"]["discriminator"]["mapping"]
        for auth_type, ref in mapping.items():
            variant = schemas[ref.rsplit("/", 1)[-1]]
            self.credential_fields[auth_type.upper()] = set(variant["properties"]) - common
        self._update = jsonschema_rs.validator_for(
            {**raw, "$ref": "#/components/schemas/AuthUpdateBody"}
        )

    def valid_patch_for(self, auth_type: str, body: object) -> bool:
        """Whether `body` is a valid PATCH once the fields the record's type ignores are gone."""
        if not isinstance(body, dict):
            return False
        others = set().union(*self.credential_fields.values()) - self.credential_fields[auth_type]
        return self._update.is_valid({k: v for k, v in body.items() if k not in others})


def _code_is(code: str, *operations: tuple[str, str]) -> Callable[..., bool]:
    def applies(case: schemathesis.Case, response: schemathesis.Response, _doc: Document) -> bool:
        return _error_code(response) == code and _operation(case) in operations

    return applies


def _conflict_with_another_field_or_the_record(
    case: schemathesis.Case, response: schemathesis.Response, _doc: Document
) -> bool:
    if _error_code(response) != "header_conflict":
        return False
    if _operation(case) == UPDATE:
        return True
    body = case.body if isinstance(case.body, dict) else {}
    return str(body.get("authType", "")).upper() == "API_KEY"


def _secret_header_new_to_the_record(
    case: schemathesis.Case, response: schemathesis.Response, _doc: Document
) -> bool:
    if _operation(case) != UPDATE or _error_code(response) != "missing_field":
        return False
    field = json.loads(response.content)["error"].get("field", "")
    return field.startswith("headers.") and field.endswith(".value")


def _too_many_across_nested_lists(
    case: schemathesis.Case, response: schemathesis.Response, _doc: Document
) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    headers = body.get("headers")
    nested = isinstance(headers, list) and any(isinstance(item, list) for item in headers)
    return _error_code(response) == "too_many_headers" and nested


def _only_fields_the_record_ignores(
    case: schemathesis.Case, response: schemathesis.Response, doc: Document
) -> bool:
    if _operation(case) != UPDATE or not 200 <= response.status_code < 300:
        return False
    auth_type = json.loads(response.content)["authType"]
    return doc.valid_patch_for(auth_type, case.body)


EXCLUSIONS = [
    Exclusion(
        "static header names are unique, compared case-insensitively (422 duplicate_header)",
        "uniqueItems compares whole items and is case-sensitive; an object's keys may differ "
        "only in case",
        "positive_data_acceptance",
        _code_is("duplicate_header", CREATE, UPDATE),
    ),
    Exclusion(
        "no static header is named like the credential's own header (422 header_conflict)",
        "for API_KEY that name is another field's value (apiKey.key, when in the header); on "
        "PATCH it comes from the stored record. (Authorization for BASIC_AUTH and BEARER_TOKEN "
        "on create is in the schema: this exclusion does not cover it.)",
        "positive_data_acceptance",
        _conflict_with_another_field_or_the_record,
    ),
    Exclusion(
        "at most 32 static headers in all, the nested list form included (too_many_headers)",
        "maxItems counts one array's items, not the items of the arrays inside it",
        "positive_data_acceptance",
        _too_many_across_nested_lists,
    ),
    Exclusion(
        "a PATCH may only name the record's own authType (422 auth_type_immutable)",
        "the record's type is stored state, not part of the request",
        "positive_data_acceptance",
        _code_is("auth_type_immutable", UPDATE),
    ),
    Exclusion(
        "If-Match must name the record's current ETag (412 precondition_failed)",
        "the revision is stored state; the document can only say that the header is an ETag",
        "positive_data_acceptance",
        _code_is("precondition_failed", UPDATE, DELETE, ROLLBACK),
    ),
    Exclusion(
        "a wrong If-Match is 412 whatever the body (the precondition is checked first)",
        "which answer comes first depends on stored state (RFC 9110 lets the precondition win)",
        "negative_data_rejection",
        _code_is("precondition_failed", UPDATE, DELETE, ROLLBACK),
    ),
    Exclusion(
        "an Idempotency-Key used with one body is refused with another for 24 h "
        "(422 idempotency_key_reused)",
        "it depends on earlier requests: stored state",
        "positive_data_acceptance",
        _code_is("idempotency_key_reused", CREATE),
    ),
    Exclusion(
        "on PATCH a secret header may leave out its value only if the record has a secret "
        "header of that name (422 missing_field otherwise)",
        "which secret headers the record has is stored state",
        "positive_data_acceptance",
        _secret_header_new_to_the_record,
    ),
    Exclusion(
        "an OAuth 2.0 tokenUrl must name a host the deployment allows (422 "
        "token_url_not_allowed; the suite allows 127.0.0.1 alone)",
        "VAULTAUTH_OAUTH_ALLOWED_HOSTS and _INSECURE_HOSTS are the operator's, not the API's",
        "positive_data_acceptance",
        _code_is("token_url_not_allowed", CREATE, UPDATE),
    ),
    Exclusion(
        "a cursor must be one this service handed out (422 invalid_cursor)",
        "it is opaque and made by the server",
        "positive_data_acceptance",
        _code_is("invalid_cursor", LIST, DUE),
    ),
    Exclusion(
        "a PATCH's credential fields of another type than the record's are ignored",
        "which fields are ignored depends on the stored record's type; the body is valid "
        "once they are left out (checked against the document)",
        "negative_data_rejection",
        _only_fields_the_record_ignores,
    ),
]


def _config(key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "continue-on-failure": True,
            "output": {"sanitization": {"enabled": False}},  # the key is a throwaway
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": {"enabled": True},
            "phases": {phase: {"enabled": True} for phase in PHASES},
            "auth": {"openapi": {"APIKeyHeader": {"api_key": key}}},
        }
    )


def _describe(
    check: str, phase: str, case: schemathesis.Case, response: schemathesis.Response | None
) -> str:
    answer = f"{response.status_code} {response.content[:300]!r}" if response else "no answer"
    body = "" if isinstance(case.body, NotSet) else case.body
    return (
        f"{check} [{phase}] {case.operation.label} -> {answer}\n"
        f"    path={case.path_parameters} query={case.query} body={repr(body)[:500]}"
    )


def test_the_api_answers_as_its_openapi_document_says(
    settings: Settings, make_key: Callable[..., str]
) -> None:
    key = make_key()
    failures: list[str] = []
    errors: list[str] = []
    scenarios: Counter[str] = Counter()
    forgiven: Counter[str] = Counter()
    ran: Counter[str] = Counter()
    followed_links = 0
    with serve_in_thread(create_app(settings)) as base_url:
        document = Document(httpx.get(f"{base_url}/openapi.json").json())
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=_config(key))

        @schema.hook
        def filter_failure(
            context: schemathesis.HookContext,
            failure: Any,
            case: schemathesis.Case,
            response: schemathesis.Response,
        ) -> bool:
            for exclusion in EXCLUSIONS:
                if exclusion.check in failure.checks and exclusion.applies(
                    case, response, document
                ):
                    forgiven[exclusion.rule] += 1
                    return False
            return True

        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                scenarios[event.phase.value] += 1
                recorder = event.recorder
                followed_links += sum(1 for node in recorder.cases.values() if node.transition)
                for case_id, checks in recorder.checks.items():
                    for check in checks:
                        ran[check.name] += 1
                        if check.failure_info is None:
                            continue
                        interaction = recorder.interactions.get(case_id)
                        response = interaction.response if interaction else None
                        case = recorder.cases[case_id].value
                        failures.append(_describe(check.name, event.phase.value, case, response))
            elif isinstance(event, events.NonFatalError | events.FatalError):
                errors.append(f"{type(event).__name__}: {event.__dict__}")
    log.info("scenarios by phase %s; checks run %s; forgiven %s", scenarios, ran, forgiven)
    assert errors == []
    assert failures == [], "\n".join(failures)
    # Every phase ran, the stateful one along the document's links, and every check with them.
    assert all(scenarios[phase] > 0 for phase in PHASES), scenarios
    assert followed_links > 0
    load_all_checks()
    assert set(ran) == set(CHECKS.get_all_names()), ran
