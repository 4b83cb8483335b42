"""VaultLogin across several nodes: a node that is down or sealed is skipped, not fatal."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from vaultauth.errors import VaultUnavailable
from vaultauth.store.vault_login import AuthMethodName, Lease, VaultLogin

SEALED = "http://127.0.0.1:1"
HEALTHY = "http://127.0.0.1:2"


class OneNodeSealed:
    """Logs in on HEALTHY; every other node answers 503 like a sealed (restarted) raft node."""

    name: AuthMethodName = "approle"
    can_login_again = True

    def __init__(self) -> None:
        self.tried: list[str] = []

    def login(self, client: hvac.Client) -> Lease:
        self.tried.append(client.url)
        if client.url != HEALTHY:
            raise hvac.exceptions.VaultDown("Vault is sealed")
        return Lease(token="tok-from-healthy", ttl=60, renewable=True)


def test_a_sealed_first_node_does_not_stop_the_login() -> None:
    method = OneNodeSealed()
    login = VaultLogin(method, [SEALED, HEALTHY])
    assert login.token() == "tok-from-healthy"
    assert method.tried == [SEALED, HEALTHY]


def test_every_node_sealed_is_vault_unavailable() -> None:
    login = VaultLogin(OneNodeSealed(), [SEALED, SEALED])
    with pytest.raises(VaultUnavailable) as caught:
        login.token()
    assert caught.value.code == "vault_sealed"
