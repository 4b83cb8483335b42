"""`vaultauth dev`: the facade on an embedded OpenBao and an SQLite index, in the data dir.

Development only: the OpenBao unseal key and root token sit in the data dir (see embedded.py).
"""

from __future__ import annotations

import sys

from pydantic import SecretStr

from vaultauth.embedded import EmbeddedOpenBao, EmbeddedVaultError
from vaultauth.errors import VaultUnavailable
from vaultauth.keys import Scope
from vaultauth.settings import Settings

ADMIN_TENANT = "default"
ADMIN_SCOPES = [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # noqa: T201 - the dev command talks to a person


def run_dev(settings: Settings, *, host: str, port: int, vault_port: int) -> None:
    """Start OpenBao, the index and the facade; Ctrl-C stops all of them."""
    import uvicorn

    from vaultauth.api import create_app
    from vaultauth.cli import create_key
    from vaultauth.wiring import build_index

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bao = EmbeddedOpenBao(settings.data_dir, port=vault_port, mount=settings.vault_mount)
    _say("vaultauth dev: DEVELOPMENT ONLY - the OpenBao unseal key is kept in the data dir.")
    try:
        bao.start()
    except EmbeddedVaultError as exc:
        raise VaultUnavailable(str(exc), code="embedded_vault_failed") from None
    try:
        dev_settings = settings.model_copy(
            update={"vault_addr": bao.addr, "vault_token": SecretStr(bao.root_token)}
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
        uvicorn.run(create_app(dev_settings), host=host, port=port, log_level="info")
    finally:
        bao.stop()
        _say("vaultauth dev: stopped.")
