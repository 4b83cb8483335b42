"""A real `bao server -dev` (optionally `-dev-tls`) for the tests, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from tests.support.processes import free_port, stop_process, wait_until
from vaultauth.embedded import bao_binary

ROOT_TOKEN = "root-token-for-tests"


@dataclass
class DevBao:
    addr: str
    token: str
    process: subprocess.Popen[bytes] | None
    workdir: Path | None
    ca_cert: Path | None = None  # the generated CA that signs its certificate, with TLS

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _spawn(
    port: int, workdir: Path, log: IO[bytes], cert_dir: Path | None, config: Path | None = None
) -> subprocess.Popen[bytes]:
    tls = ["-dev-tls", f"-dev-tls-cert-dir={cert_dir}"] if cert_dir is not None else []
    tls += [f"-config={config}"] if config is not None else []
    return subprocess.Popen(
        [
            bao_binary(),
            "server",
            "-dev",
            *tls,
            f"-dev-root-token-id={ROOT_TOKEN}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-dev-no-store-token",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir)},
        start_new_session=True,
    )


def start_dev_bao(*, tls: bool = False, audit_log: bool = False) -> DevBao:
    """Start an in-memory dev server; ready once health and the `secret/` KV v2 mount answer.

    With `tls`, it serves https with a certificate signed by a CA it generates (`ca_cert`).
    With `audit_log`, a file audit device (declared in a config file, as OpenBao requires)
    writes to `<workdir>/audit.log`."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="vaultauth-bao-"))
    cert_dir = workdir / "certs" if tls else None
    if cert_dir is not None:
        cert_dir.mkdir()
    config = None
    if audit_log:
        config = workdir / "audit.hcl"
        config.write_text(
            'audit "file" "file" {\n'
            f'  options {{\n    file_path = "{workdir / "audit.log"}"\n  }}\n'
            "}\n"
        )
    with (workdir / "server.log").open("wb") as log:
        process = _spawn(port, workdir, log, cert_dir, config)
    addr = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    ca_cert = cert_dir / "vault-ca.pem" if cert_dir is not None else None
    headers = {"X-Vault-Token": ROOT_TOKEN}

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"bao server exited: {(workdir / 'server.log').read_text()[-2000:]}")
        if ca_cert is not None and not ca_cert.exists():
            return False
        trust = ssl.create_default_context(cafile=str(ca_cert)) if ca_cert else True
        with httpx.Client(verify=trust, timeout=1) as http:
            health = http.get(f"{addr}/v1/sys/health")
            mounts = http.get(f"{addr}/v1/sys/mounts/secret/tune", headers=headers)
        return health.status_code == 200 and mounts.status_code == 200

    try:
        wait_until(ready, 30, "bao server -dev")
    except BaseException:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return DevBao(addr=addr, token=ROOT_TOKEN, process=process, workdir=workdir, ca_cert=ca_cert)
