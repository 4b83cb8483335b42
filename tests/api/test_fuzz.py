"""Property-based fuzzing of every operation in /openapi.json: no input may get a 5xx.

Schemathesis generates bodies, ids, query strings and headers from the published schema (and,
in its negative mode, outside it) and sends them to a real facade on a real OpenBao; every
answer must be a 2xx or a 4xx in our error shape, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable

import hypothesis
import schemathesis
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from tests.support.live import serve_in_thread
from vaultauth.api import create_app
from vaultauth.settings import Settings

EXAMPLES_PER_OPERATION = 60


def _fuzz(strategy: st.SearchStrategy[schemathesis.Case], key: str, statuses: set[int]) -> None:
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: reproducible, never flaky
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(headers={"X-API-Key": key})
        statuses.add(response.status_code)
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400 and response.content:
            assert set(response.json()) == {"error"}, response.text

    fuzz()


def test_no_input_gets_a_server_error(settings: Settings, make_key: Callable[..., str]) -> None:
    key = make_key()
    with serve_in_thread(create_app(settings)) as base_url:
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 6  # the five API calls and resolve, at least
        tried: dict[str, set[int]] = {}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode)
                statuses = tried.setdefault(operation.label, set())

                try:
                    _fuzz(strategy, key, statuses)
                except hypothesis.errors.Unsatisfiable:
                    # No invalid input exists for it (e.g. /healthz takes no parameters).
                    assert mode is GenerationMode.NEGATIVE, operation.label
    assert any(200 <= s < 300 for codes in tried.values() for s in codes), tried
