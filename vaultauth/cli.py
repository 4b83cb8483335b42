"""The `vaultauth` command line: serve, dev, keys ...; domain errors become exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from vaultauth.admin import create_key
from vaultauth.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unavailable,
    VaultauthError,
)
from vaultauth.keys import Scope
from vaultauth.settings import Settings, describe_invalid_settings

EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_UNAVAILABLE = 5
EXIT_SOMETHING_DUE = 3  # `vaultauth due`: records need attention (as decisions.md says)

app = typer.Typer(help="vaultauth: integration credentials kept in Vault.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Manage API keys (stored as hashes in the index).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
index_app = typer.Typer(help="Manage the metadata index (SQLite or PostgreSQL).")
app.add_typer(index_app, name="index")
policies_app = typer.Typer(help="Print vaultauth's Vault policies (HCL).", no_args_is_help=True)
app.add_typer(policies_app, name="policies")

MountOption = Annotated[
    str | None, typer.Option(help="KV v2 mount. Default: VAULTAUTH_VAULT_MOUNT, else secret.")
]
PrefixOption = Annotated[
    str | None,
    typer.Option(help="KV path prefix. Default: VAULTAUTH_VAULT_PREFIX, else vaultauth."),
]


def exit_code_of(exc: VaultauthError) -> int:
    if isinstance(exc, InvalidInput):
        return EXIT_INVALID
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, Conflict):
        return EXIT_CONFLICT
    if isinstance(exc, Unavailable):
        return EXIT_UNAVAILABLE
    return 1


def _fail(exc: VaultauthError) -> typer.Exit:
    typer.echo(f"error: {exc.message}", err=True)
    return typer.Exit(exit_code_of(exc))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Processes sharing the port (default: VAULTAUTH_WORKERS, else 1). "
            "About one per core the facade may use.",
        ),
    ] = None,
) -> None:
    """Run the facade with the VAULTAUTH_* configuration; logs are JSON lines on stderr."""
    from vaultauth.server import run_server

    settings = Settings()
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    try:
        run_server(settings, host=host, port=port)
    except VaultauthError as exc:
        raise _fail(exc) from None


@index_app.command("upgrade")
def index_upgrade() -> None:
    """Apply the index's migrations up to the newest (safe to run from several replicas)."""
    from vaultauth.index.migrate import upgrade
    from vaultauth.index.sql import create_index_engine

    settings = Settings()
    try:
        engine = create_index_engine(settings.resolved_index_url(), pool_size=1)
        try:
            revision = upgrade(engine)
        finally:
            engine.dispose()
    except VaultauthError as exc:
        raise _fail(exc) from None
    typer.echo(f"index schema at revision {revision}", err=True)


@app.command()
def reconcile(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (default: all).")] = None,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed.")] = False,
    min_age: Annotated[
        float,
        typer.Option(
            min=0,
            help="Leave alone entries changed less than this many seconds ago "
            "(writes in flight); 0 examines everything.",
        ),
    ] = 300,
) -> None:
    """Report (and with --repair fix) disagreements between the index and Vault.

    In the folder of `vaultauth dev`, with no Vault login configured, it uses that OpenBao.

    Exit 0: consistent, or everything found was repaired (entries younger than --min-age are
    left alone and do not count). Exit 1: problems remain (found without --repair, or not
    repairable). Exit 5: Vault or the index is unavailable.
    """
    import asyncio
    from datetime import timedelta

    from vaultauth.devserver import with_dev_vault
    from vaultauth.index.async_sql import AsyncSqlIndex
    from vaultauth.reconcile import Reconciler, Report
    from vaultauth.wiring import build_index, build_secret_store

    try:
        settings = with_dev_vault(Settings())
    except VaultauthError as exc:
        raise _fail(exc) from None

    async def run() -> Report:
        prefix = settings.checked_prefix()
        engine, index = build_index(settings)
        secrets = build_secret_store(settings)
        try:
            return await Reconciler(
                secrets, AsyncSqlIndex(index, loop_queries=False), prefix=prefix
            ).run(tenant=tenant, repair=repair, min_age=timedelta(seconds=min_age))
        finally:
            await secrets.close()
            engine.dispose()

    try:
        report = asyncio.run(run())
    except VaultauthError as exc:
        raise _fail(exc) from None
    for line in report.lines():
        typer.echo(line)
    raise typer.Exit(report.exit_code)


@app.command()
def due(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (default: all).")] = None,
    within: Annotated[
        str, typer.Option(help="How far ahead to look: 30m, 12h, 7d, 2w (default 7d).")
    ] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List records whose expiresAt or rotateAfter falls within --within, the earliest first.

    Exit 0: nothing is due. Exit 3: something is (the lines say what). Exit 2: an error. Meant
    for cron jobs: `vaultauth due --within 14d || notify ...`.
    """
    import json as json_module

    from vaultauth.due import due_lines, parse_within
    from vaultauth.wiring import build_index

    try:
        horizon = datetime.now(UTC) + parse_within(within)
        engine, index = build_index(Settings())
        try:
            records = due_lines(index, tenant, horizon)
        finally:
            engine.dispose()
    except VaultauthError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    for entry in records:
        typer.echo(json_module.dumps(entry) if as_json else _due_text(entry))
    raise typer.Exit(EXIT_SOMETHING_DUE if records else 0)


def _due_text(entry: dict[str, object]) -> str:
    where = f"{entry['tenant']}/{entry['integrationId']}/{entry['authId']}"
    label = f"  {entry['label']}" if entry["label"] else ""
    return f"{entry['dueAt']}  {entry['reason']:<6}  {where}{label}"


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the facade.")] = 8080,
    vault_port: Annotated[int, typer.Option(help="Port of the embedded OpenBao.")] = 8200,
    host: Annotated[str, typer.Option(help="Interface of the facade.")] = "127.0.0.1",
) -> None:
    """Run the facade on an embedded OpenBao and SQLite in the data dir (development only)."""
    from vaultauth.devserver import run_dev

    try:
        run_dev(Settings(), host=host, port=port, vault_port=vault_port)
    except VaultauthError as exc:
        raise _fail(exc) from None


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Tenant whose records the key reaches.")],
    scope: Annotated[list[str], typer.Option(help="auth:read, auth:write, credentials:read.")],
) -> None:
    """Create a key and print it, alone, on stdout (it is shown only this once)."""
    try:
        plaintext = create_key(Settings(), tenant, [Scope.parse(s) for s in scope])
    except VaultauthError as exc:
        raise _fail(exc) from None
    typer.echo(plaintext)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys: id, tenant, scopes, created, revoked (never the key itself)."""
    from vaultauth.wiring import build_index

    try:
        engine, index = build_index(Settings())
        try:
            for key in index.list_keys(tenant):
                revoked = key.revoked_at.isoformat() if key.revoked_at else "-"
                scopes = ",".join(sorted(s.value for s in key.scopes))
                typer.echo(
                    f"{key.key_id}\t{key.tenant}\t{scopes}\t{key.created_at.isoformat()}\t{revoked}"
                )
        finally:
            engine.dispose()
    except VaultauthError as exc:
        raise _fail(exc) from None


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from `keys list`.")],
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    from vaultauth.wiring import build_index

    try:
        engine, index = build_index(Settings())
        try:
            if not index.revoke_key(key_id, datetime.now(UTC)):
                raise NotFound("no such active key")
        finally:
            engine.dispose()
    except VaultauthError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked {key_id}", err=True)


@policies_app.command("render")
def policies_render(
    tenant: Annotated[str, typer.Option(help="The tenant whose credentials the service reads.")],
    integration: Annotated[
        list[str], typer.Option(help="An integration id the service may read; repeatable.")
    ],
    mount: MountOption = None,
    prefix: PrefixOption = None,
) -> None:
    """Print a consumer policy: read-only access to chosen integrations of one tenant."""
    from vaultauth.policies import render_consumer

    try:
        settings = Settings()
        typer.echo(
            render_consumer(
                tenant=tenant,
                integrations=integration,
                mount=mount or settings.vault_mount,
                prefix=prefix or settings.vault_prefix,
            ),
            nl=False,
        )
    except VaultauthError as exc:
        raise _fail(exc) from None


@policies_app.command("facade")
def policies_facade(mount: MountOption = None, prefix: PrefixOption = None) -> None:
    """Print the facade's policy for its mount and prefix."""
    from vaultauth.policies import render_facade

    _print_policy(render_facade, mount, prefix)


@policies_app.command("reconcile")
def policies_reconcile(mount: MountOption = None, prefix: PrefixOption = None) -> None:
    """Print the policy `vaultauth reconcile` runs under (listing, metadata, repairs)."""
    from vaultauth.policies import render_reconcile

    _print_policy(render_reconcile, mount, prefix)


def _print_policy(render: Callable[..., str], mount: str | None, prefix: str | None) -> None:
    """`render(mount=, prefix=)` on stdout; the mount and prefix default to the settings'."""
    try:
        settings = Settings()
        typer.echo(
            render(mount=mount or settings.vault_mount, prefix=prefix or settings.vault_prefix),
            nl=False,
        )
    except VaultauthError as exc:
        raise _fail(exc) from None


def main() -> None:
    prog_name = Path(sys.argv[0]).name if sys.argv[0].endswith("vaultauth") else "vaultauth"
    try:
        app(prog_name=prog_name)
    except ValidationError as exc:  # a VAULTAUTH_* variable out of its range, say
        typer.echo(f"error: {describe_invalid_settings(exc)}", err=True)
        raise SystemExit(EXIT_INVALID) from None
