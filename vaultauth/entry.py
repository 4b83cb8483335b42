"""The `vaultauth` command's entry point: checks for the server extra before loading the CLI.

`pip install vaultauth` (no extras) is the client library alone; its `vaultauth` command would
otherwise die in `import typer` with a traceback. This module imports nothing outside the
standard library until the check has passed.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

# The top-level modules of the `server` extra (pyproject.toml), which the command line needs.
SERVER_MODULES = (
    "typer",
    "fastapi",
    "uvicorn",
    "hvac",
    "requests",
    "sqlalchemy",
    "alembic",
    "pydantic_settings",
    "prometheus_client",
    "swagger_ui_bundle",
)
EXIT_MISSING_EXTRA = 2


def missing_server_modules() -> list[str]:
    """The server extra's modules that cannot be imported here (found, not imported)."""
    return [name for name in SERVER_MODULES if find_spec(name) is None]


def main() -> None:
    missing = missing_server_modules()
    if missing:
        sys.stderr.write(
            "vaultauth: the command line needs the server extra: "
            f"pip install 'vaultauth[server]' (missing: {', '.join(missing)})\n"
        )
        raise SystemExit(EXIT_MISSING_EXTRA)
    from vaultauth.cli import main as cli_main

    cli_main()
