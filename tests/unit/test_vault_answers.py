"""The Vault adapter's handling of odd answers and of X-Vault-Index ordering (no server)."""

from __future__ import annotations

import base64
import json

import pytest

from vaultauth.errors import Conflict, VaultUnavailable
from vaultauth.store.kv import VaultKV, _Answer, _index_position, _payload, _status_error


@pytest.mark.parametrize(
    "body", [b"<html>proxy error</html>", b"{}", b'{"data": null}', b'{"data": {"version": "x"}}']
)
def test_an_answer_of_another_shape_is_vault_unavailable(body: bytes) -> None:
    with pytest.raises(VaultUnavailable) as caught:
        _payload(_Answer(200, body, None), lambda answer: int(answer["data"]["version"]))
    assert caught.value.code == "vault_bad_answer"
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            400,
            b'{"errors":["check-and-set parameter did not match the current version"]}',
            Conflict,
            "conflict",
        ),
        (
            400,
            b'{"errors":["bad thing at http://vault:8200/x"]}',
            VaultUnavailable,
            "vault_unavailable",
        ),
        (503, b'{"errors":["Vault is sealed"]}', VaultUnavailable, "vault_sealed"),
        (403, b'{"errors":["permission denied"]}', VaultUnavailable, "vault_forbidden"),
        (404, b"{}", VaultUnavailable, "vault_misconfigured"),
        (500, b"internal", VaultUnavailable, "vault_unavailable"),
    ],
)
def test_statuses_become_domain_errors_without_vaults_text(
    status: int, body: bytes, error: type[Exception], code: str
) -> None:
    translated = _status_error(status, body)
    assert isinstance(translated, error)
    assert getattr(translated, "code", None) == code
    assert "vault:8200" not in str(translated)


def _index(value: int) -> str:
    raw = json.dumps({"cluster": "c1", "value": str(value)}).encode()
    return base64.b64encode(raw).decode().rstrip("=")


def test_index_positions_order_answers_that_arrive_out_of_order() -> None:
    assert _index_position(_index(37)) == 37
    assert _index_position(_index(38)) > _index_position(_index(37))
    assert _index_position("not-base64!") == -1


def test_the_store_keeps_the_newest_index_it_has_seen() -> None:
    store = VaultKV("http://127.0.0.1:9", lambda: "t", mount="secret")
    for value in (38, 37):
        store._remember_index(_index(value))
    assert store._vault_index == _index(38)
