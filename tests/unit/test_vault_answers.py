"""The Vault adapter's handling of odd answers and of X-Vault-Index ordering (no server)."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from vaultauth.errors import VaultUnavailable
from vaultauth.store.vault import _answer, _index_position


def _response(body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body
    return response


@pytest.mark.parametrize(
    "body", [b"<html>proxy error</html>", b"{}", b'{"data": null}', b'{"data": {"version": "x"}}']
)
def test_an_answer_of_another_shape_is_vault_unavailable(body: bytes) -> None:
    with pytest.raises(VaultUnavailable) as caught:
        _answer(_response(body), lambda answer: int(answer["data"]["version"]))
    assert caught.value.code == "vault_bad_answer"
    assert caught.value.__cause__ is None


def _index(value: int) -> str:
    raw = json.dumps({"cluster": "c1", "value": str(value)}).encode()
    return base64.b64encode(raw).decode().rstrip("=")


def test_index_positions_order_answers_that_arrive_out_of_order() -> None:
    assert _index_position(_index(37)) == 37
    assert _index_position(_index(38)) > _index_position(_index(37))
    assert _index_position("not-base64!") == -1


def test_the_store_keeps_the_newest_index_it_has_seen() -> None:
    from vaultauth.store.vault import VaultSecretStore

    store = VaultSecretStore("http://127.0.0.1:9", lambda: "t", mount="secret")
    try:
        for value in (38, 37):
            answer = _response(b"{}")
            answer.headers["X-Vault-Index"] = _index(value)
            store._remember_index(answer)
        assert store._vault_index == _index(38)
    finally:
        store.close()
