"""The compose stack's openbao-init job, run against a real non-dev OpenBao on loopback."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.embedded import bao_binary

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "openbao" / "config.hcl"
INIT = ROOT / "deploy" / "openbao" / "init.sh"


def _start(config: Path, home: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [bao_binary(), "server", f"-config={config}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
            start_new_session=True,
        )


def _init(addr: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    if not (bin_dir / "bao").exists():
        (bin_dir / "bao").symlink_to(bao_binary())
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "BAO_ADDR": addr,
        "KEYS_DIR": str(tmp_path / "keys"),
        "TOKEN_DIR": str(tmp_path / "token"),
        "POLICY_FILE": str(ROOT / "policies" / "vaultauth-facade.hcl"),
        "FACADE_UID": str(os.getuid()),  # the facade's user; here, the test's own
    }
    return subprocess.run(
        ["sh", str(INIT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_init_job_initialises_mounts_kv_and_unseals_after_a_restart(tmp_path: Path) -> None:
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    for sub in ("data", "keys", "token"):
        (tmp_path / sub).mkdir()
    config = tmp_path / "config.hcl"
    config.write_text(
        CONFIG.read_text()
        .replace("/openbao/file", str(tmp_path / "data"))
        .replace("0.0.0.0:8200", f"127.0.0.1:{port}")
        .replace("http://openbao:8200", addr)
        .replace("https://openbao:8201", f"https://127.0.0.1:{port + 1}")
    )
    log = tmp_path / "server.log"
    health = f"{addr}/v1/sys/health"
    server = _start(config, tmp_path, log)
    try:
        first = _init(addr, tmp_path)
        assert first.returncode == 0, first.stderr + log.read_text()[-2000:]
        assert "initialised" in first.stdout
        assert "mounted KV v2 at secret/" in first.stdout
        token_file = tmp_path / "token" / "token"
        token = token_file.read_text()
        assert (tmp_path / "keys" / "init.txt").stat().st_mode & 0o077 == 0
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o400  # the facade's user only
        root = (tmp_path / "keys" / "init.txt").read_text().split("Initial Root Token:")[1]
        assert token != root.split()[0], "the facade must not get the root token"
        headers = {"X-Vault-Token": token}
        looked_up = httpx.get(f"{addr}/v1/auth/token/lookup-self", headers=headers).json()
        assert sorted(looked_up["data"]["policies"]) == ["default", "vaultauth-facade"]
        path = f"{addr}/v1/secret/data/vaultauth/acme/integrations/i/auth/a"
        written = httpx.post(
            path, json={"data": {"k": "v"}, "options": {"cas": 0}}, headers=headers
        )
        assert written.status_code == 200, written.text
        outside = httpx.post(f"{addr}/v1/secret/data/probe", json={"data": {}}, headers=headers)
        assert outside.status_code == 403  # the facade policy reaches its prefix only

        stop_process(server)
        server = _start(config, tmp_path, log)
        wait_until(lambda: httpx.get(health, timeout=1).status_code == 503, 30, "sealed restart")
        again = _init(addr, tmp_path)
        assert again.returncode == 0, again.stderr
        assert "initialised" not in again.stdout
        fresh = {"X-Vault-Token": token_file.read_text()}  # a new token after each unseal
        read = httpx.get(path, headers=fresh)
        assert read.json()["data"]["data"] == {"k": "v"}
    finally:
        stop_process(server)


def test_the_init_job_never_puts_a_key_or_the_root_token_on_a_command_line() -> None:
    """`ps` shows every process's arguments: the unseal key goes through a pipe, the root token
    through the environment (BAO_TOKEN), never as an argument."""
    for line in INIT.read_text().splitlines():
        code = line.split("#", 1)[0]
        for secret in ("$unseal_key", "$root_token"):
            if secret in code and "=$(" not in code:
                assert code.strip().startswith(
                    ("printf '%s' \"$unseal_key\" |", "export BAO_TOKEN=")
                ), line
