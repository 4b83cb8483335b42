"""The facade against raw Vault, measured with wrk: throughput, latency, and index scale.

Starts a real `bao server -dev` and two `vaultauth serve` processes on free loopback ports that
share one metadata index: one with the resolve cache on (TTL 300 s), one with it off. It seeds
BEARER_TOKEN records through the API, then drives every test with wrk (keep-alive, generated
Lua scripts that walk the seeded paths, each wrk thread from its own offset):

    vault read            GET  Vault KV v2: the very documents the facade resolves
    vault write           POST Vault KV v2: a new secret each request, shaped as create writes it
                          (a record document at <prefix>/<tenant>/integrations/<id>/auth/<id>)
    resolve (cache off)   POST .../auth/{authId}/resolve on the cache-off facade
    resolve (cache on)    POST .../auth/{authId}/resolve on the cache-on facade
    GET                   GET  .../auth/{authId}                     (cache-on facade)
    list                  GET  .../auth?limit=50                     (cache-on facade)
    create                POST .../auth, integration ids rotating    (cache-on facade)
    PATCH                 PATCH .../auth/{authId}, a new token each  (cache-on facade)

Rounds are interleaved (round 1 runs every test once, then round 2, ...), each facade test
next to its yardstick and every other round in reverse order, so drift falls on every test and
its yardstick alike; each measured run follows a warm-up run of the same test. It prints a
table (req/s: mean over rounds; p50/p99: median over rounds; non-2xx and socket errors:
totals), the ratios of the facade to Vault with their targets, the machine, and the facades' RSS.

The scale part fills two fresh indexes, one with 1,000 records and one with N, inserting rows
straight into them (SQLAlchemy Core, batches of 10,000; GET and list need no Vault documents),
starts one facade of the same configuration on each, with its record and key caches off so that
every request reads the index, and measures GET and list p50 with `wrk -t1 -c1` on both in
interleaved rounds (p50: median over rounds). It also prints the index's query plans at N.

    .venv/bin/python benchmarks/vs_vault.py                   # both parts: 1,000 records, then
                                                              # the scale part at 1,000,000
    .venv/bin/python benchmarks/vs_vault.py --quick           # short run for CI
    .venv/bin/python benchmarks/vs_vault.py --only throughput [--rounds 4 --seconds 8]
    .venv/bin/python benchmarks/vs_vault.py --only scale --records 200000
    options: --index sqlite|postgres, --workers N, --threads 2, --connections 16, --warmup 2

`--records N` sizes the throughput part; with N > 20,000 (or --seed-index-directly) it sizes
the scale part instead, and the throughput part keeps its default size. wrk takes whole
seconds: fractional --seconds/--warmup round up. wrk is installed with apt-get when missing.

Exit status: 0 when every request succeeded, 1 when any request failed (socket errors or
non-2xx answers, warm-ups included) or a facade died, 2 when the setup failed. Ratios and
absolute figures never change it: they are for comparing changes on one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx
from sqlalchemy import create_engine, text

from vaultauth.admin import create_key
from vaultauth.document import DOCUMENT_FORMAT
from vaultauth.embedded import bao_binary
from vaultauth.index.schema import STATE_ACTIVE, auth_records
from vaultauth.index.sql import create_index_engine
from vaultauth.keys import Scope
from vaultauth.settings import Settings

EXIT_OK = 0
EXIT_FAILED_REQUESTS = 1
EXIT_SETUP = 2

TENANT = "bench"
PREFIX = "vaultauth"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RECORDS_PER_INTEGRATION = 50  # so that every `list?limit=50` answers one full page
CREATE_INTEGRATIONS = 100  # the create test rotates over this many fresh integration ids
DIRECT_SEED_ABOVE = 20_000  # larger --records go straight into the index (scale part)
SCALE_BASELINE = 1_000
SCALE_SAMPLE = 1_000  # records / integrations that the scale part's wrk scripts walk
INSERT_BATCH = 10_000
RESULT_ENV = "VS_VAULT_RESULT"
# What create writes for a BEARER_TOKEN record (vaultauth/document.py), as the raw write's body.
RAW_DOCUMENT = {
    "format": DOCUMENT_FORMAT,
    "authType": "BEARER_TOKEN",
    "headers": [],
    "token": "raw-{tag}",
}

# Each facade test runs next to its yardstick: the reads beside Vault's read, create and PATCH
# beside Vault's write (the write tests grow OpenBao's storage, which changes what its reads cost).
TEST_ORDER = (
    "vault read",
    "resolve (cache off)",
    "resolve (cache on)",
    "GET",
    "list",
    "vault write",
    "create",
    "PATCH",
)


class SetupError(Exception):
    """The benchmark could not be set up (wrk, bao, a facade, the index): exit 2."""


class RequestsFailed(Exception):
    """The system under test failed a request outside wrk, or a facade died: exit 1."""


@dataclass(frozen=True)
class Record:
    """One seeded auth record."""

    integration_id: str
    auth_id: str


# -- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The options once --quick and the meaning of --records are settled."""

    only: str
    records: int
    scale_records: int
    rounds: int
    seconds: int
    warmup: int
    scale_seconds: int
    threads: int
    connections: int
    timeout: int
    index: str
    pg_url: str
    workers: int
    memory_records: int


def parse_args(argv: Sequence[str] | None) -> Plan:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only", choices=("all", "throughput", "client", "scale", "memory"), default="all"
    )
    parser.add_argument(
        "--memory-records", type=int, help="records of the memory part; default 100000"
    )
    parser.add_argument("--quick", action="store_true", help="short run for CI")
    parser.add_argument("--records", type=int, help="default 1000 (--quick: 100)")
    parser.add_argument(
        "--scale-records", type=int, help="N of the scale part; default 1000000 (--quick: 2000)"
    )
    parser.add_argument(
        "--seed-index-directly",
        action="store_true",
        help=f"--records sizes the scale part (implied above {DIRECT_SEED_ABOVE})",
    )
    parser.add_argument("--rounds", type=int, help="default 4 (--quick: 1)")
    parser.add_argument("--seconds", type=float, help="per measured run; default 8 (--quick: 1)")
    parser.add_argument("--warmup", type=float, help="before each run; default 2 (--quick: 0.5)")
    parser.add_argument("--scale-seconds", type=float, help="default 3 (--quick: 1)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--timeout", type=float, default=10, help="wrk request timeout (s)")
    parser.add_argument("--index", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (postgres)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = parser.parse_args(argv)

    def pick(value: float | None, normal: float, quick: float) -> float:
        return value if value is not None else (quick if args.quick else normal)

    records = int(pick(args.records, 1000, 100))
    scale_records = int(pick(args.scale_records, 1_000_000, 2_000))
    if args.records is not None and (args.seed_index_directly or records > DIRECT_SEED_ABOVE):
        scale_records, records = records, int(pick(None, 1000, 100))
        note = f"--records {scale_records} goes straight into the index: it sizes the scale part"
        if args.only != "scale":
            note += f"; the throughput part seeds {records} records through the API"
        print(note)
    plan = Plan(
        only=args.only,
        records=records,
        scale_records=scale_records,
        rounds=int(pick(args.rounds, 4, 1)),
        seconds=whole_seconds(pick(args.seconds, 8, 1)),
        warmup=whole_seconds(pick(args.warmup, 2, 0.5)),
        scale_seconds=whole_seconds(pick(args.scale_seconds, 3, 1)),
        threads=args.threads,
        connections=args.connections,
        timeout=whole_seconds(args.timeout),
        index=args.index,
        pg_url=args.pg_url,
        workers=args.workers,
        memory_records=int(pick(args.memory_records, 100_000, 500)),
    )
    problems = [
        "--records must be at least 1" if plan.records < 1 else "",
        f"--scale-records must exceed {SCALE_BASELINE}"
        if plan.only != "throughput" and plan.scale_records <= SCALE_BASELINE
        else "",
        "--rounds must be at least 1" if plan.rounds < 1 else "",
        "--seconds must be positive" if plan.seconds < 1 else "",
        "--connections must be at least --threads" if plan.connections < plan.threads else "",
        "--records must be at least --connections (PATCH gives each connection its own records)"
        if plan.only != "scale" and plan.records < plan.connections
        else "",
        "--threads and --workers must be at least 1" if min(plan.threads, plan.workers) < 1 else "",
    ]
    for problem in filter(None, problems):
        parser.error(problem)
    return plan


def whole_seconds(value: float) -> int:
    """wrk's -d takes whole seconds: round a fraction up (0 stays 0: no warm-up)."""
    return max(0, math.ceil(value))


# -- processes and ports ---------------------------------------------------------------------


def free_port(*, with_next: bool = False) -> int:
    """A free loopback port from the kernel; with_next: port+1 is free too (bao binds it)."""
    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not with_next or port_is_free(port + 1):
            return port
    raise SetupError("no free loopback port found")


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process in its own session (so its process group can be stopped by PID)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process group we created, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


def tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:].strip() or "(empty)"
    except OSError:
        return "(unreadable)"


def wait_for_http(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path,
    what: str,
    headers: dict[str, str] | None = None,
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"{what} exited with status {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1, headers=headers, trust_env=False).status_code == 200:
                return
        time.sleep(0.1)
    raise SetupError(f"{what} did not answer {url} within 60 s:\n{tail(log)}")


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without the caller's VAULTAUTH_*/VAULT_*/BAO_* settings and proxies
    (every target is on 127.0.0.1)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VAULTAUTH_", "VAULT_", "BAO_"))
        and not key.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


# -- wrk -------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    command = "apt-get update -qq && apt-get install -y -qq wrk"
    print(f"wrk is missing; installing it: {command}")
    if not shutil.which("apt-get"):
        raise SetupError("wrk is missing and there is no apt-get to install it with")
    result = subprocess.run(["/bin/sh", "-c", command], check=False)
    found = shutil.which("wrk")
    if result.returncode != 0 or not found:
        raise SetupError(f"could not install wrk ({command} exited {result.returncode})")
    return found


@dataclass(frozen=True)
class LoadTest:
    """One wrk test: requests of one method that rotate over `paths` on one server."""

    name: str
    base_url: str
    method: str
    paths: list[str]
    headers: dict[str, str]
    body: str | None = None  # None: no body; "{tag}" becomes a per-request unique tag
    # One wrk thread per connection, each walking its own share of the paths: no two requests
    # in flight ever name the same path (concurrent PATCHes of one record rightly get 409).
    disjoint: bool = False
    # Each request appends its unique tag to its path, so that every request makes a new secret.
    fresh_paths: bool = False

    def wrk_threads(self, threads: int, connections: int) -> int:
        return connections if self.disjoint else threads


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_us: int
    connect: int
    read: int
    write: int
    timeout: int
    status: int  # answers with status > 399 (wrk's count)
    p50_us: float
    p99_us: float

    @property
    def rps(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    @property
    def failed(self) -> int:
        return self.socket_errors + self.status


LUA_TEMPLATE = """\
-- {name}: generated by benchmarks/vs_vault.py
local paths = {{
{paths}
}}
local method = {method}
local headers = {{
{headers}
}}
local threads_total = {threads}
local disjoint = {disjoint}
local fresh_paths = {fresh_paths}

-- main state: number the threads so that each walks the paths from its own offset
-- (or, when disjoint, walks only every threads_total-th path from its own)
local numbered = 0
function setup(thread)
  thread:set("thread_index", numbered)
  numbered = numbered + 1
end

-- thread state
local position = 1
local n = 0
function init(args)
  if disjoint then
    local own = {{}}
    for j = thread_index + 1, #paths, threads_total do
      own[#own + 1] = paths[j]
    end
    paths = own
  else
    position = math.floor(thread_index * #paths / threads_total) % #paths + 1
  end
end

local function body()
  local tag = thread_index .. "-" .. n
  return {body}
end

function request()
  local path = paths[position]
  position = position % #paths + 1
  n = n + 1
  if fresh_paths then
    path = path .. thread_index .. "-" .. n
  end
  return wrk.format(method, path, headers, body())
end

-- main state: one JSON line with the figures, to the file named by ${result_env}
function done(summary, latency, requests)
  local e = summary.errors
  local out = assert(io.open(os.getenv("{result_env}"), "w"))
  out:write(string.format(
    '{{"requests": %.0f, "duration_us": %.0f, "connect": %.0f, "read": %.0f, "write": %.0f, '
    .. '"timeout": %.0f, "status": %.0f, "p50_us": %.0f, "p99_us": %.0f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
  out:close()
end
"""


def lua_string(value: str) -> str:
    """A Lua string literal (JSON's escapes are Lua's for the ASCII we generate)."""
    return json.dumps(value)


def lua_body(template: str | None) -> str:
    if template is None:
        return "nil"
    return " .. tag .. ".join(lua_string(part) for part in template.split("{tag}"))


def write_lua(test: LoadTest, threads: int, connections: int, directory: Path) -> Path:
    script = LUA_TEMPLATE.format(
        name=test.name,
        paths="\n".join(f"  {lua_string(p)}," for p in test.paths),
        method=lua_string(test.method),
        headers="\n".join(
            f"  [{lua_string(k)}] = {lua_string(v)}," for k, v in test.headers.items()
        ),
        threads=test.wrk_threads(threads, connections),
        disjoint="true" if test.disjoint else "false",
        fresh_paths="true" if test.fresh_paths else "false",
        body=lua_body(test.body),
        result_env=RESULT_ENV,
    )
    path = directory / (re.sub(r"[^A-Za-z0-9]+", "_", test.name).strip("_") + ".lua")
    path.write_text(script)
    return path


@dataclass(frozen=True)
class Wrk:
    binary: str
    workdir: Path
    timeout: int

    def run(
        self, test: LoadTest, script: Path, seconds: int, threads: int, conns: int
    ) -> WrkResult:
        result_file = self.workdir / "wrk-result.json"
        result_file.unlink(missing_ok=True)
        log = self.workdir / "wrk.log"
        command = [
            self.binary,
            f"-t{test.wrk_threads(threads, conns)}",
            f"-c{conns}",
            f"-d{seconds}s",
            f"--timeout={self.timeout}s",
            "-s",
            str(script),
            test.base_url + "/",
        ]
        process = spawn(command, clean_env(**{RESULT_ENV: str(result_file)}), log)
        try:
            process.wait(seconds + self.timeout + 30)
        except subprocess.TimeoutExpired:
            raise SetupError(f"wrk hung on {test.name}:\n{tail(log, 1500)}") from None
        finally:
            stop(process)
        if process.returncode != 0 or not result_file.exists():
            raise SetupError(
                f"wrk failed on {test.name} (exit {process.returncode}):\n{tail(log, 1500)}"
            )
        return WrkResult(**json.loads(result_file.read_text()))


# -- OpenBao ---------------------------------------------------------------------------------

ROOT_TOKEN = "vs-vault-" + secrets.token_hex(8)
VAULT_HEADERS = {"X-Vault-Token": ROOT_TOKEN}


@dataclass(frozen=True)
class Bao:
    addr: str
    process: subprocess.Popen[bytes]


def start_bao(workdir: Path, stack: contextlib.ExitStack) -> Bao:
    port = free_port(with_next=True)
    home = workdir / "bao-home"
    home.mkdir()
    log = workdir / "bao.log"
    command = [
        bao_binary(),
        "server",
        "-dev",
        f"-dev-root-token-id={ROOT_TOKEN}",
        f"-dev-listen-address=127.0.0.1:{port}",
        "-dev-no-store-token",
    ]
    process = spawn(command, {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}, log)
    stack.callback(stop, process)
    addr = f"http://127.0.0.1:{port}"
    wait_for_http(f"{addr}/v1/sys/health", process, log, "bao server -dev")
    wait_for_http(
        f"{addr}/v1/sys/mounts/secret/tune", process, log, "bao's secret/ mount", VAULT_HEADERS
    )
    return Bao(addr=addr, process=process)


def bao_version() -> str:
    with tempfile.TemporaryDirectory(prefix="vs-vault-home-") as home:
        result = subprocess.run(
            [bao_binary(), "version"],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": os.environ.get("PATH", ""), "HOME": home},
        )
    return result.stdout.strip() or result.stderr.strip()


# -- the index -------------------------------------------------------------------------------


@contextlib.contextmanager
def open_index(plan: Plan, workdir: Path, name: str) -> Iterator[str]:
    """A fresh, empty index: an SQLite file in workdir, or a PostgreSQL schema dropped after."""
    if plan.index == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.sqlite3'}"
        return
    schema = re.sub(r"[^a-z0-9]+", "_", f"vs_vault_{name}_{secrets.token_hex(4)}")
    admin = create_engine(plan.pg_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        raise SetupError(f"PostgreSQL at {plan.pg_url}: {type(exc).__name__}: {exc}") from None
    joiner = "&" if "?" in plan.pg_url else "?"
    try:
        yield f"{plan.pg_url}{joiner}options=-csearch_path%3D{schema}"
    finally:
        try:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        except Exception as exc:
            print(f"could not drop schema {schema}: {type(exc).__name__}", file=sys.stderr)
        finally:
            admin.dispose()


def index_settings(bao: Bao, index_url: str, data_dir: Path) -> Settings:
    return Settings(
        vault_addr=bao.addr,
        vault_token=ROOT_TOKEN,
        vault_prefix=PREFIX,
        index_url=index_url,
        data_dir=data_dir,
        index_auto_migrate=True,
    )


def make_api_key(bao: Bao, index_url: str, workdir: Path) -> str:
    """An all-scopes key of tenant `bench` (this also migrates the fresh index)."""
    scopes = [Scope.AUTH_READ, Scope.AUTH_WRITE, Scope.CREDENTIALS_READ]
    try:
        return create_key(index_settings(bao, index_url, workdir / "keys-data"), TENANT, scopes)
    except Exception as exc:
        raise SetupError(f"could not create the API key: {type(exc).__name__}: {exc}") from None


def random_auth_id(rng: random.Random) -> str:
    return "auth_" + "".join(rng.choices(string.ascii_letters + string.digits, k=12))


def scale_integration(row: int) -> str:
    return f"intg_s{row // RECORDS_PER_INTEGRATION:06d}"


def insert_rows(index_url: str, count: int, *, keep_every: int) -> list[Record]:
    """Insert `count` rows straight into auth_records, RECORDS_PER_INTEGRATION per integration,
    in batches of INSERT_BATCH; return every keep_every-th record as a sample for wrk."""
    rng = random.Random(count)
    base = datetime.now(UTC) - timedelta(days=30)
    kept: list[Record] = []
    engine = create_index_engine(index_url, pool_size=1)
    began = time.monotonic()
    try:
        for batch_start in range(0, count, INSERT_BATCH):
            rows: list[dict[str, object]] = []
            for row in range(batch_start, min(batch_start + INSERT_BATCH, count)):
                record = Record(scale_integration(row), random_auth_id(rng))
                moment = base + timedelta(milliseconds=row)
                rows.append(
                    {
                        "tenant": TENANT,
                        "integration_id": record.integration_id,
                        "auth_id": record.auth_id,
                        "auth_type": "BEARER_TOKEN",
                        "headers": [],
                        "api_key_name": None,
                        "api_key_position": None,
                        "kv_version": 1,
                        "state": STATE_ACTIVE,
                        "created_at": moment,
                        "updated_at": moment,
                    }
                )
                if row % keep_every == 0:
                    kept.append(record)
            with engine.begin() as connection:
                connection.execute(auth_records.insert(), rows)
            done = batch_start + len(rows)
            if done % 100_000 == 0:
                print(f"  ... {done:,} rows ({time.monotonic() - began:.0f} s)")
        if engine.dialect.name == "postgresql":
            # What autovacuum would do soon after such an insert, without waiting for it.
            with engine.begin() as connection:
                connection.execute(text("ANALYZE auth_records"))
    finally:
        engine.dispose()
    return kept


# -- facades ---------------------------------------------------------------------------------


@dataclass
class Facade:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RequestsFailed(
                f"facade {self.name} died (exit {self.process.returncode}); its log:\n"
                f"{tail(self.log)}"
            )


def start_facade(
    name: str,
    bao: Bao,
    index_url: str,
    cache_ttl: int | None,
    plan: Plan,
    workdir: Path,
    stack: contextlib.ExitStack,
    **extra_env: str,
) -> Facade:
    port = free_port()
    slug = name.replace(" ", "-")
    log = workdir / f"facade-{slug}.log"
    env = clean_env(
        VAULTAUTH_VAULT_ADDR=bao.addr,
        VAULTAUTH_VAULT_TOKEN=ROOT_TOKEN,
        VAULTAUTH_VAULT_PREFIX=PREFIX,
        VAULTAUTH_INDEX_URL=index_url,
        VAULTAUTH_DATA_DIR=str(workdir / f"data-{slug}"),
        **({} if cache_ttl is None else {"VAULTAUTH_RESOLVE_CACHE_TTL": str(cache_ttl)}),
        # The default level: every request writes its access-log line, as in production.
        VAULTAUTH_LOG_LEVEL="info",
        **extra_env,
    )
    command = [sys.executable, "-m", "vaultauth", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port)]
    if plan.workers > 1:
        command += ["--workers", str(plan.workers)]
    process = spawn(command, env, log)
    stack.callback(stop, process)
    facade = Facade(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)
    wait_for_http(f"{facade.url}/healthz", process, log, f"facade {name}")
    return facade


def auth_path(integration_id: str, auth_id: str | None = None) -> str:
    path = f"/v1/integrations/{integration_id}/auth"
    return path if auth_id is None else f"{path}/{auth_id}"


def call_in_parallel(
    facade: Facade, key: str, count: int, call: Callable[[httpx.Client, int], Any]
) -> list[Any]:
    """`call(client, n)` for n in range(count), 8 at a time; a failure stops the rest."""
    with httpx.Client(
        base_url=facade.url,
        headers={"X-API-Key": key},
        timeout=30,
        limits=httpx.Limits(max_connections=8),
        trust_env=False,
    ) as client:
        pool = ThreadPoolExecutor(max_workers=8)
        try:
            return list(pool.map(lambda n: call(client, n), range(count)))
        finally:  # on a failure or Ctrl-C, drop the calls not yet started
            pool.shutdown(cancel_futures=True)


def seed_through_api(facade: Facade, key: str, count: int) -> list[Record]:
    """Create `count` BEARER_TOKEN records, RECORDS_PER_INTEGRATION per integration."""
    integrations = math.ceil(count / RECORDS_PER_INTEGRATION)
    began = time.monotonic()

    def create(client: httpx.Client, n: int) -> Record:
        integration = f"intg_{n % integrations:04d}"
        body = {"authType": "BEARER_TOKEN", "token": f"seed-{n}-{secrets.token_hex(8)}"}
        response = client.post(auth_path(integration), json=body)
        if response.status_code != 200:
            raise RequestsFailed(
                f"seeding: POST {auth_path(integration)} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        return Record(integration, str(response.json()["authId"]))

    records = call_in_parallel(facade, key, count, create)
    elapsed = time.monotonic() - began
    print(
        f"seeded {count} records over {integrations} integrations through the API in "
        f"{elapsed:.1f} s ({count / elapsed:.0f}/s)"
    )
    return records


def preflight(test: LoadTest) -> None:
    """One request as wrk will send it, so that a wrong path fails loudly before the load."""
    body = None if test.body is None else test.body.replace("{tag}", "preflight")
    response = httpx.request(
        test.method,
        test.base_url + test.paths[0],
        headers=test.headers,
        content=body,
        timeout=30,
        trust_env=False,
    )
    if not 200 <= response.status_code < 400:
        raise RequestsFailed(
            f"{test.name}: {test.method} {test.paths[0]} answered {response.status_code}: "
            f"{response.text[:300]}"
        )


# -- RSS -------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: the parent PID follows its closing ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def role_of(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "child"
    return "resource tracker" if "resource_tracker" in cmdline else "worker"


def print_rss(facades: Sequence[Facade]) -> None:
    print("\nRSS (VmRSS) after the runs:")
    for facade in facades:
        parent = rss_mb(facade.process.pid)
        label = "serve process" if parent is not None else "serve process (gone)"
        print(f"  {facade.name:<22} {label:<18} pid {facade.process.pid:<7} {parent or 0:7.1f} MB")
        total = parent or 0.0
        children = children_of(facade.process.pid)
        for child in children:
            size = rss_mb(child) or 0.0
            total += size
            print(f"  {'':<22} {role_of(child):<18} pid {child:<7} {size:7.1f} MB")
        if children:
            print(f"  {'':<22} {'total':<18} {'':<11} {total:7.1f} MB")


# -- the throughput part ---------------------------------------------------------------------


@dataclass
class Outcome:
    """Every measured run of one test, and the failed requests of its warm-ups."""

    runs: list[WrkResult] = field(default_factory=list)
    warmup_failed: int = 0

    @property
    def rps(self) -> float:
        return statistics.fmean(r.rps for r in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_us for r in self.runs) / 1000

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_us for r in self.runs) / 1000

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.runs) + self.warmup_failed


def throughput_tests(
    bao: Bao, cache_on: Facade, cache_off: Facade, key: str, records: list[Record]
) -> list[LoadTest]:
    api = {"X-API-Key": key, "Content-Type": "application/json"}
    gets = [auth_path(r.integration_id, r.auth_id) for r in records]
    integrations = sorted({r.integration_id for r in records})
    vault_paths = [
        f"/v1/secret/data/{PREFIX}/{TENANT}/integrations/{r.integration_id}/auth/{r.auth_id}"
        for r in records
    ]
    vault = {**VAULT_HEADERS, "Content-Type": "application/json"}
    tests = [
        LoadTest("vault read", bao.addr, "GET", vault_paths, vault),
        LoadTest(
            "resolve (cache off)", cache_off.url, "POST", [g + "/resolve" for g in gets], api, ""
        ),
        LoadTest(
            "resolve (cache on)", cache_on.url, "POST", [g + "/resolve" for g in gets], api, ""
        ),
        LoadTest("GET", cache_on.url, "GET", gets, api),
        LoadTest(
            "list", cache_on.url, "GET", [auth_path(i) + "?limit=50" for i in integrations], api
        ),
        LoadTest(
            "vault write",
            bao.addr,
            "POST",
            [
                f"/v1/secret/data/{PREFIX}/{TENANT}/integrations/intg_raw_{n:03d}/auth/auth_"
                for n in range(CREATE_INTEGRATIONS)
            ],
            vault,
            json.dumps({"data": RAW_DOCUMENT}),
            fresh_paths=True,
        ),
        LoadTest(
            "create",
            cache_on.url,
            "POST",
            [auth_path(f"intg_new_{n:03d}") for n in range(CREATE_INTEGRATIONS)],
            api,
            '{"authType": "BEARER_TOKEN", "token": "created-{tag}"}',
        ),
        LoadTest(
            "PATCH", cache_on.url, "PATCH", gets, api, '{"token": "patched-{tag}"}', disjoint=True
        ),
    ]
    assert tuple(t.name for t in tests) == TEST_ORDER
    return tests


def measure_rounds(
    plan: Plan,
    wrk: Wrk,
    tests: list[LoadTest],
    facades: Sequence[Facade],
    load: tuple[int, int, int],
) -> dict[str, Outcome]:
    """Interleaved rounds: every test once per round, each run after a warm-up run, in the
    listed order in odd rounds and the reverse in even ones, so that drift during the run (the
    machine's speed, OpenBao's growing storage) weighs on each test and its yardstick alike.
    `load` is (seconds, wrk threads, wrk connections) of a measured run."""
    seconds, threads, connections = load
    scripts = {t.name: write_lua(t, threads, connections, wrk.workdir) for t in tests}
    outcomes = {t.name: Outcome() for t in tests}
    for round_number in range(1, plan.rounds + 1):
        print(f"round {round_number}/{plan.rounds}: ", end="")
        in_order = tests if round_number % 2 else tests[::-1]
        for position, test in enumerate(in_order):
            print(f"{', ' if position else ''}{test.name}", end="")
            outcome = outcomes[test.name]
            if plan.warmup:
                warm = wrk.run(test, scripts[test.name], plan.warmup, threads, connections)
                outcome.warmup_failed += warm.failed
            outcome.runs.append(wrk.run(test, scripts[test.name], seconds, threads, connections))
            for facade in facades:
                facade.check_alive()
        print()
    return outcomes


def print_table(outcomes: dict[str, Outcome]) -> None:
    print(f"\n{'test':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'sock err':>9}")
    for name, outcome in outcomes.items():
        non_2xx = sum(r.status for r in outcome.runs)
        socket_errors = sum(r.socket_errors for r in outcome.runs)
        print(
            f"{name:<22} {outcome.rps:9.0f} {outcome.p50_ms:8.2f} {outcome.p99_ms:8.2f} "
            f"{non_2xx:8d} {socket_errors:9d}"
        )
    print(
        "(PATCH runs one wrk thread per connection, each on its own records: concurrent "
        "PATCHes of one record get 409 by design)"
    )
    warm = {n: o.warmup_failed for n, o in outcomes.items() if o.warmup_failed}
    if warm:
        print(f"failed requests during warm-ups (not in the table): {warm}")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_ratios(outcomes: dict[str, Outcome]) -> None:
    rps = {name: outcome.rps for name, outcome in outcomes.items()}
    checks = [
        ("resolve (cache off)", "vault read", 0.5, ""),
        ("resolve (cache on)", "vault read", 1.0, " (aim 2.0)"),
        ("GET", "vault read", 1.0, ""),
        ("create", "vault write", 0.5, ""),
    ]
    print("\nratios (req/s):")
    for facade_test, vault_test, target, aim in checks:
        ratio = rps[facade_test] / rps[vault_test] if rps[vault_test] else 0.0
        label = f"{facade_test} ÷ {vault_test}"
        print(f"  {label:<34} {ratio:6.2f}   target ≥ {target}{aim:<11} {verdict(ratio >= target)}")


def run_throughput(plan: Plan, bao: Bao, wrk: Wrk, workdir: Path) -> int:
    print("\n== throughput ==")
    with contextlib.ExitStack() as stack:
        index_url = stack.enter_context(open_index(plan, workdir, "throughput"))
        key = make_api_key(bao, index_url, workdir)
        cache_on = start_facade("cache on", bao, index_url, 300, plan, workdir, stack)
        cache_off = start_facade("cache off", bao, index_url, 0, plan, workdir, stack)
        facades = (cache_on, cache_off)
        records = seed_through_api(cache_on, key, plan.records)
        tests = throughput_tests(bao, cache_on, cache_off, key, records)
        for test in tests:
            preflight(test)
        load = (plan.seconds, plan.threads, plan.connections)
        outcomes = measure_rounds(plan, wrk, tests, facades, load)
        print_table(outcomes)
        print_ratios(outcomes)
        print_rss(facades)
        return sum(o.failed for o in outcomes.values())


# -- the scale part --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaleSide:
    """One facade on its own index of `records` rows, and the sample its tests walk."""

    records: int
    facade: Facade
    key: str
    sample: list[Record]
    index_url: str

    def tests(self) -> tuple[LoadTest, LoadTest]:
        api = {"X-API-Key": self.key}
        gets = [auth_path(r.integration_id, r.auth_id) for r in self.sample]
        integrations = sorted({r.integration_id for r in self.sample})
        lists = [auth_path(i) + "?limit=50" for i in integrations]
        at = f" at {self.records:,}"
        return (
            LoadTest("GET" + at, self.facade.url, "GET", gets, api),
            LoadTest("list" + at, self.facade.url, "GET", lists, api),
        )


def scale_side(
    plan: Plan, bao: Bao, workdir: Path, stack: contextlib.ExitStack, records: int
) -> ScaleSide:
    """A fresh index with `records` rows inserted straight into it, and a facade on it."""
    index_url = stack.enter_context(open_index(plan, workdir, f"scale-{records}"))
    key = make_api_key(bao, index_url, workdir)
    step = max(1, records // SCALE_SAMPLE)
    began = time.monotonic()
    sample = insert_rows(index_url, records, keep_every=step)
    print(f"inserted {records:,} rows straight into an index in {time.monotonic() - began:.1f} s")
    # No record or key cache: every GET and list must read the index, which is what is measured.
    facade = start_facade(
        f"scale {records:,}",
        bao,
        index_url,
        300,
        plan,
        workdir,
        stack,
        VAULTAUTH_CACHE_STALENESS_BOUND="0",
    )
    return ScaleSide(records, facade, key, sample, index_url)


def print_scale(small: ScaleSide, large: ScaleSide, outcomes: dict[str, Outcome]) -> None:
    print(f"\n{'wrk -t1 -c1':<22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'failed':>8}")
    for name, outcome in outcomes.items():
        print(
            f"{name:<22} {outcome.rps:9.0f} {outcome.p50_ms:8.2f} {outcome.p99_ms:8.2f} "
            f"{outcome.failed:8d}"
        )
    print("\nratios (p50):")
    for name in ("GET", "list"):
        before = outcomes[f"{name} at {small.records:,}"].p50_ms
        after = outcomes[f"{name} at {large.records:,}"].p50_ms
        ratio = after / before if before else math.inf
        label = f"{name} p50 at {large.records:,} ÷ at {small.records:,}"
        print(f"  {label:<34} {ratio:6.2f}   target ≤ 1.2{'':<11} {verdict(ratio <= 1.2)}")


def print_plans(side: ScaleSide) -> None:
    """The index's plans for the hot queries, at this side's size (EXPLAIN)."""
    from vaultauth.index.sql import SqlMetadataIndex, create_index_engine

    engine = create_index_engine(side.index_url, pool_size=1)
    try:
        plans = SqlMetadataIndex(engine).driver.query_plans()
    finally:
        engine.dispose()
    print(f"\nquery plans at {side.records:,} records:")
    for name, plan in plans.items():
        for number, line in enumerate(plan.splitlines()):
            print(f"  {name if number == 0 else '':<12} {line}")


def run_scale(plan: Plan, bao: Bao, wrk: Wrk, workdir: Path) -> int:
    """GET and list latency (one connection) at SCALE_BASELINE and at N records: two facades
    of the same configuration, each on its own index, measured in interleaved rounds."""
    print("\n== index scale ==")
    with contextlib.ExitStack() as stack:
        small = scale_side(plan, bao, workdir, stack, SCALE_BASELINE)
        large = scale_side(plan, bao, workdir, stack, plan.scale_records)
        (small_get, small_list), (large_get, large_list) = small.tests(), large.tests()
        tests = [small_get, large_get, small_list, large_list]
        for test in tests:
            preflight(test)
        facades = (small.facade, large.facade)
        outcomes = measure_rounds(plan, wrk, tests, facades, (plan.scale_seconds, 1, 1))
        print_scale(small, large, outcomes)
        print_plans(large)
        print_rss(facades)
        return sum(o.failed for o in outcomes.values())


# -- the Vault client's CPU and the memory part ------------------------------------------------


def run_client(plan: Plan, bao: Bao, wrk: Wrk, workdir: Path) -> int:
    """CPU per KV call of the facade's Vault client against hvac + requests (client_cpu.py)."""
    from client_cpu import measure, print_figures

    from tests.support.bao import DevBao

    calls = 500 if plan.records < 1000 else 4000
    dev = DevBao(addr=bao.addr, token=ROOT_TOKEN, process=None, workdir=None)
    print_figures(measure(dev, calls))
    return 0


def run_memory(plan: Plan, bao: Bao, wrk: Wrk, workdir: Path) -> int:
    """RSS of one facade (default configuration) after creating and resolving N records."""
    count = plan.memory_records
    print(f"\n== memory: {count:,} records created and resolved through the API ==")
    with contextlib.ExitStack() as stack:
        index_url = stack.enter_context(open_index(plan, workdir, "memory"))
        key = make_api_key(bao, index_url, workdir)
        facade = start_facade("memory", bao, index_url, None, plan, workdir, stack)
        records = seed_through_api(facade, key, count)
        began = time.monotonic()

        def resolve(client: httpx.Client, n: int) -> None:
            record = records[n]
            response = client.post(auth_path(record.integration_id, record.auth_id) + "/resolve")
            if response.status_code != 200:
                raise RequestsFailed(f"resolve answered {response.status_code}")

        call_in_parallel(facade, key, count, resolve)
        print(f"resolved each once in {time.monotonic() - began:.1f} s")
        print_rss((facade,))
        workers = [pid for pid in children_of(facade.process.pid) if role_of(pid) == "worker"] or [
            facade.process.pid
        ]
        largest = max(rss_mb(pid) or 0.0 for pid in workers)
        verdict_line = "PASS" if largest <= 120 else "FAIL"
        print(f"  largest serving process: {largest:.1f} MB   target ≤ 120 MB  {verdict_line}")
    return 0


# -- main ------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def print_machine(plan: Plan) -> None:
    print(f"CPU: {cpu_model()} x {os.cpu_count()}")
    print(f"Python: {platform.python_version()}   OpenBao: {bao_version()}")
    print(f"index: {plan.index}   workers: {plan.workers}   wrk timeout: {plan.timeout} s")
    if plan.only != "scale":
        print(
            f"throughput: wrk -t{plan.threads} -c{plan.connections}, {plan.records} records, "
            f"{plan.rounds} x ({plan.warmup} s warm-up + {plan.seconds} s) per test"
        )
    if plan.only != "throughput":
        print(
            f"scale: wrk -t1 -c1, {SCALE_BASELINE:,} and {plan.scale_records:,} records, "
            f"{plan.rounds} x ({plan.warmup} s warm-up + {plan.scale_seconds} s) per test"
        )


def raise_interrupt(signum: int, _frame: object) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def run(plan: Plan) -> int:
    wrk_binary = ensure_wrk()
    print_machine(plan)
    failed = 0
    with contextlib.ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="vs-vault-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bao = start_bao(workdir, stack)
        wrk = Wrk(binary=wrk_binary, workdir=workdir, timeout=plan.timeout)
        parts: list[Callable[[Plan, Bao, Wrk, Path], int]] = []
        if plan.only in ("all", "throughput"):
            parts.append(run_throughput)
        if plan.only in ("all", "client"):
            parts.append(run_client)
        if plan.only in ("all", "scale"):
            parts.append(run_scale)
        if plan.only in ("all", "memory"):
            parts.append(run_memory)
        for part in parts:
            failed += part(plan, bao, wrk, workdir)
    if failed:
        print(f"\nFAILED: {failed} requests failed (socket errors or non-2xx answers)")
        return EXIT_FAILED_REQUESTS
    print("\nevery request succeeded")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True, errors="replace")
    plan = parse_args(argv)
    # SIGINT too: a shell that starts us in the background (`... &`) has it ignored.
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    began = time.monotonic()
    try:
        return run(plan)
    except SetupError as exc:
        print(f"\nSETUP FAILED: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except RequestsFailed as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED_REQUESTS
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        return 130
    finally:
        print(f"(took {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
