"""`vaultauth dev`: the facade on an embedded OpenBao and an SQLite index, in the data dir.

Development only: the OpenBao unseal key and root token sit in the data dir (see embedded.py).
Admin commands that need Vault (`vaultauth reconcile`), run in the same folder with no Vault
login configured, use that OpenBao (`with_dev_vault`).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import httpx
from pydantic import SecretStr

from vaultauth.embedded import EmbeddedOpenBao, EmbeddedVaultError, recorded_server
from vaultauth.errors import VaultUnavailable
from vaultauth.files import private_dir
from vaultauth.keys import Scope
from vaultauth.policies import render_facade
from vaultauth.settings import Settings

ADMIN_TENANT = "default"
FACADE_POLICY = "vaultauth-facade"
ADMIN_SCOPES = [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - the dev command talks to a person


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _signals_unwind() -> Iterator[None]:
    """SIGTERM unwinds the stack like Ctrl-C does, so the `finally` that stops OpenBao runs.

    Python's default SIGTERM action kills the process outright; uvicorn, which catches SIGTERM
    while it serves, re-raises it once it has shut down, which would then leave OpenBao running.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """While OpenBao is being stopped (bounded by its own timeouts), a second Ctrl-C or
    SIGTERM must not interrupt the wait and leave the server behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _login_configured(settings: Settings) -> bool:
    return settings.vault_auth_method != "auto" or any(
        (
            settings.vault_token,
            settings.vault_token_file,
            settings.vault_approle_role_id,
            settings.vault_approle_role_id_file,
            settings.vault_kubernetes_role,
        )
    )


def with_dev_vault(settings: Settings) -> Settings:
    """`settings`, pointed at the OpenBao of a `vaultauth dev` in the data dir when no Vault
    login is configured and there is one; unchanged otherwise. Raises VaultUnavailable, saying
    what to run, when that OpenBao is not running."""
    if _login_configured(settings):
        return settings
    recorded = recorded_server(settings.data_dir)
    if recorded is None:
        return settings  # the usual "no Vault credentials" error follows
    addr, root_token = recorded
    try:
        with httpx.Client(timeout=2, trust_env=False) as http:
            status = http.get(f"{addr}/v1/sys/health").status_code
    except httpx.HTTPError:
        status = 0
    if status != 200:
        raise VaultUnavailable(
            f"the OpenBao of `vaultauth dev` in {settings.data_dir} is not running at {addr}: "
            "start `vaultauth dev` in this folder, then run this again",
            code="vault_unreachable",
        )
    _say(f"using the OpenBao of `vaultauth dev` at {addr} (its root token; development only)")
    return settings.model_copy(update={"vault_addr": addr, "vault_token": SecretStr(root_token)})


def run_dev(settings: Settings, *, host: str, port: int, vault_port: int) -> None:
    """Start OpenBao, the index and the facade; Ctrl-C or SIGTERM stops all of them."""
    with _signals_unwind():
        _run_dev(settings, host=host, port=port, vault_port=vault_port)


def _run_dev(settings: Settings, *, host: str, port: int, vault_port: int) -> None:
    import uvicorn

    from vaultauth.admin import create_key
    from vaultauth.api import create_app
    from vaultauth.logs import logging_config
    from vaultauth.wiring import build_index

    private_dir(settings.data_dir)
    bao = EmbeddedOpenBao(settings.data_dir, port=vault_port, mount=settings.vault_mount)
    _say("vaultauth dev: DEVELOPMENT ONLY - the OpenBao unseal key is kept in the data dir.")
    try:
        bao.start()
    except EmbeddedVaultError as exc:
        raise VaultUnavailable(str(exc), code="embedded_vault_failed") from None
    try:
        # The facade runs under the facade policy, as in production; the root token stays in
        # the 0600 init file for the operator.
        facade_token = bao.issue_token(
            FACADE_POLICY,
            render_facade(mount=settings.vault_mount, prefix=settings.vault_prefix),
        )
        dev_settings = settings.model_copy(
            update={"vault_addr": bao.addr, "vault_token": SecretStr(facade_token)}
        )
        engine, index = build_index(dev_settings)
        first_run = not index.list_keys()
        engine.dispose()
        if first_run:
            key = create_key(dev_settings, ADMIN_TENANT, ADMIN_SCOPES)
            base = f"http://{host}:{port}"
            _say(
                "\nAn admin API key was created (tenant 'default', all scopes). It is shown once:\n"
                f"\n    {key}\n\nTry:\n"
                f"    curl -s -X POST {base}/v1/integrations/intg_demo/auth \\\n"
                f"      -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\\n"
                '      -d \'{"authType": "BEARER_TOKEN", "token": "example-token"}\'\n'
            )
        _say(f"OpenBao: {bao.addr} (data in {settings.data_dir.resolve()})")
        _say(f"Facade:  http://{host}:{port}  (OpenAPI at /docs)")
        uvicorn.run(
            create_app(dev_settings),
            host=host,
            port=port,
            # The same JSON logs as `serve`: no raw paths, no exception messages.
            log_config=logging_config(dev_settings.log_level),
            access_log=False,
        )
    finally:
        with _signals_ignored():
            bao.stop()
        _say("vaultauth dev: stopped.")
