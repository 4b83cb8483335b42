"""The local stack that the docs examples run against, once per session.

One real `vaultauth serve` process (uvicorn, HTTP on a free loopback port) on the session's
OpenBao (`vault`) under a KV prefix of its own, with an index of its own: an SQLite file, or a
fresh PostgreSQL schema when VAULTAUTH_TEST_INDEX=postgres. Beside it, the echo server and the
OAuth 2.0 token endpoint (tests/support/doc_servers.py). Everything stops at session end.

Blocks find the venv's bin first on PATH (`vaultauth`, `python`, `bao`), then a `vault` that is
OpenBao's CLI (the same commands and VAULT_ADDR/VAULT_TOKEN), so an example written for the
Vault CLI runs as written against the session's OpenBao.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ALL_SCOPES, index_backend, postgres_schema
from tests.support.bao import DevBao
from tests.support.doc_servers import run_any_client_token_endpoint, run_echo_server
from tests.support.facade import settings_env, start_facade
from tests.support.processes import stop_process
from vaultauth.admin import create_key
from vaultauth.embedded import bao_binary
from vaultauth.settings import Settings

# The venv's bin: `vaultauth`, `python` and `bao` in a block are the project's.
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class DocStack:
    env: dict[str, str]  # the environment every block gets (see block_env)
    log_path: Path  # the facade's log, for a failing page's report

    def facade_log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="session")
def doc_stack(vault: DevBao, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocStack]:
    if shutil.which("curl") is None:
        reason = "the docs examples call curl, which is not installed"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(f"NOT RUN: {reason}; CI installs it and runs them")
    workdir = tmp_path_factory.mktemp("docs-stack")
    home = workdir / "home"
    home.mkdir()
    aliases = workdir / "bin"
    aliases.mkdir()
    (aliases / "vault").symlink_to(bao_binary())
    with ExitStack() as stack:
        if index_backend() == "postgres":
            index_url = stack.enter_context(
                postgres_schema("VAULTAUTH_TEST_INDEX=postgres", required=True)
            )
        else:
            index_url = f"sqlite:///{workdir / 'index.sqlite3'}"
        settings = Settings(
            vault_addr=vault.addr,
            vault_token=vault.token,
            vault_prefix=f"docs{secrets.token_hex(4)}",
            index_url=index_url,
            data_dir=workdir / "data",
            oauth_insecure_hosts="127.0.0.1",
        )
        facade_env = settings_env(
            settings,
            home,
            VAULTAUTH_OAUTH_INSECURE_HOSTS="127.0.0.1",
        )
        echo_url = stack.enter_context(run_echo_server())
        token_url = stack.enter_context(run_any_client_token_endpoint())
        facade = start_facade(facade_env, workdir, "docs-facade")
        stack.callback(stop_process, facade.process)
        key = create_key(settings, "default", ALL_SCOPES)
        env = {
            **{name: value for name, value in facade_env.items() if name.startswith("VAULTAUTH_")},
            "PATH": os.pathsep.join(
                [str(VENV_BIN), str(aliases), os.environ.get("PATH", "/usr/bin:/bin")]
            ),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "HOST": facade.url,
            "KEY": key,
            "BASE": f"{facade.url}/v1/integrations/intg_demo/auth",
            "ECHO_URL": echo_url,
            "TOKEN_URL": token_url,
            "VAULT_ADDR": vault.addr,
            "VAULT_TOKEN": vault.token,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        yield DocStack(env=env, log_path=facade.log_path)
