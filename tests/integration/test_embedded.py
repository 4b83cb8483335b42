"""Integration tests for vaultauth.embedded against the real bundled OpenBao server binary."""

from __future__ import annotations

import json
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from vaultauth.embedded import EmbeddedOpenBao, EmbeddedVaultError

MOUNT = "kv-dev"
CANARY = "canary-7f3a1c-do-not-leak"


def _free_port_pair() -> int:
    """A free loopback port whose successor (the server's cluster port) is free too."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free pair of loopback ports found")


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def servers() -> Iterator[list[EmbeddedOpenBao]]:
    """Collects every server a test creates and stops them all afterwards."""
    made: list[EmbeddedOpenBao] = []
    yield made
    for server in made:
        server.stop()


def _client(server: EmbeddedOpenBao) -> hvac.Client:
    return hvac.Client(url=server.addr, token=server.root_token, timeout=5)


def test_secret_survives_stop_and_restart(tmp_path: Path, servers: list[EmbeddedOpenBao]) -> None:
    port = _free_port_pair()
    first = EmbeddedOpenBao(tmp_path, port=port, mount=MOUNT)
    servers.append(first)
    first.start()
    assert first.addr == f"http://127.0.0.1:{port}"
    first_pid = first.pid
    assert first_pid is not None
    assert _process_exists(first_pid)
    token = first.root_token

    client = _client(first)
    try:
        client.secrets.kv.v2.create_or_update_secret(
            mount_point=MOUNT, path="integrations/acme", secret={"api_key": CANARY}
        )
    finally:
        client.adapter.close()

    first.stop()
    assert first.pid is None
    assert not _process_exists(first_pid)
    first.stop()  # idempotent

    second = EmbeddedOpenBao(tmp_path, port=port, mount=MOUNT)
    servers.append(second)
    with second:
        assert second.pid is not None
        assert second.pid != first_pid
        assert second.root_token == token
        client = _client(second)
        try:
            read = client.secrets.kv.v2.read_secret_version(
                mount_point=MOUNT, path="integrations/acme", raise_on_deleted_version=True
            )
        finally:
            client.adapter.close()
        assert read["data"]["data"] == {"api_key": CANARY}
        second_pid = second.pid
    assert second.pid is None
    assert not _process_exists(second_pid)

    base = tmp_path / "openbao"
    init_file = base / "init.json"
    assert stat.S_IMODE(init_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(base.stat().st_mode) == 0o700
    assert json.loads(init_file.read_text())["root_token"] == token
    assert not (base / "home" / ".vault-token").exists()
    assert (base / "server.log").stat().st_size > 0
    log = (base / "server.log").read_text()
    assert token not in log
    assert CANARY not in log


def test_port_in_use_fails_clearly(tmp_path: Path, servers: list[EmbeddedOpenBao]) -> None:
    port = _free_port_pair()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        server = EmbeddedOpenBao(tmp_path, port=port)
        servers.append(server)
        with pytest.raises(
            EmbeddedVaultError, match=rf"port {port} on 127\.0\.0\.1 is already in use"
        ):
            server.start()
        assert server.pid is None
        assert not (tmp_path / "openbao" / "init.json").exists()


def test_wrong_unseal_key_fails_without_leaking_the_token(
    tmp_path: Path, servers: list[EmbeddedOpenBao]
) -> None:
    port = _free_port_pair()
    server = EmbeddedOpenBao(tmp_path, port=port)
    servers.append(server)
    with server:
        token = server.root_token
    init_file = tmp_path / "openbao" / "init.json"
    saved = json.loads(init_file.read_text())
    saved["keys"] = ["00" * 32]
    init_file.write_text(json.dumps(saved))

    again = EmbeddedOpenBao(tmp_path, port=port)
    servers.append(again)
    with pytest.raises(EmbeddedVaultError, match="unseal") as caught:
        again.start()
    assert again.pid is None
    assert token not in str(caught.value)
    assert "00" * 32 not in str(caught.value)


def test_stop_before_start_is_harmless(tmp_path: Path) -> None:
    server = EmbeddedOpenBao(tmp_path, port=_free_port_pair())
    server.stop()
    server.stop()
    assert server.pid is None
    with pytest.raises(EmbeddedVaultError, match="not been started"):
        _ = server.root_token
