"""A TypeScript client generated from /openapi.json type-checks against code that uses it.

Services in other languages generate their clients from the document, so it must be one they can
generate from, and the result must accept what the API accepts and refuse what it refuses.
`openapi-typescript` makes `api.d.ts` from the document; `tsc --strict` checks
`typescript/client.ts`: a create body of each authType, PATCH bodies, a record and an error
answer, and lines marked `@ts-expect-error` that must not compile (a BEARER_TOKEN without its
token, an unknown authType, a secret read from a record, ...).

The npm packages are pinned by `typescript/package-lock.json` and installed once into
`.cache/npm/` (gitignored), keyed by the lockfile's hash. Without npm the test is skipped on a
developer's machine and fails in CI (`CI` set).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vaultauth.api import create_app
from vaultauth.settings import Settings

SOURCES = Path(__file__).parent / "typescript"
REPO = Path(__file__).resolve().parents[2]


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        reason = "npm and Node.js are needed to generate and type-check the TypeScript client"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}, and CI must run this check (install Node 20 with npm)")
        pytest.skip(f"{reason}: not installed here (CI fails instead of skipping)")
    return npm


def _toolchain() -> Path:
    """`node_modules` with the pinned openapi-typescript and typescript, installed once."""
    npm = _npm()
    lock = (SOURCES / "package-lock.json").read_bytes()
    home = REPO / ".cache" / "npm" / f"openapi-client-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (home / "node_modules" / ".bin" / "tsc").exists():
        return home
    staging = home.with_name(f"{home.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(SOURCES / name, staging / name)
    _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], staging, timeout=600)
    if not home.exists():
        staging.rename(home)
    else:  # another run installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return home


def _run(command: list[str], cwd: Path, timeout: float = 180) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_a_generated_typescript_client_type_checks(tmp_path: Path) -> None:
    home = _toolchain()
    bin_dir = home / "node_modules" / ".bin"
    # The document needs no runtime: the app without its lifespan.
    document = TestClient(create_app(Settings())).get("/openapi.json").json()
    (tmp_path / "openapi.json").write_text(json.dumps(document))
    for name in ("client.ts", "tsconfig.json"):
        shutil.copy(SOURCES / name, tmp_path / name)
    _run([str(bin_dir / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], tmp_path)
    generated = (tmp_path / "api.d.ts").read_text()
    assert '"BEARER_TOKEN" | "bearer_token"' in generated  # both spellings made it through
    _run([str(bin_dir / "tsc"), "-p", "tsconfig.json"], tmp_path)
