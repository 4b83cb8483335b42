"""The compose stack: `docker-compose config` accepts it, and it speaks our settings' language."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vaultauth.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def test_docker_compose_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (.ci/run installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr


def test_every_vaultauth_variable_in_the_stack_is_a_setting() -> None:
    names = set(re.findall(r"\bVAULTAUTH_([A-Z_]+):", COMPOSE.read_text()))
    assert {"VAULT_ADDR", "VAULT_TOKEN_FILE", "INDEX_URL", "INDEX_AUTO_MIGRATE"} <= names
    fields = {name.upper() for name in Settings.model_fields}
    assert names <= fields, names - fields


def test_the_image_migrates_the_index_before_serving() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "vaultauth index upgrade && exec vaultauth serve --host 0.0.0.0" in dockerfile
    assert "postgresql+psycopg://" in COMPOSE.read_text()


def test_the_openbao_init_script_is_valid_sh() -> None:
    script = ROOT / "deploy" / "openbao" / "init.sh"
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
