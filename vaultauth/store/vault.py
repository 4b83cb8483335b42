"""The Vault KV v2 adapter: one pooled session per process, failover across nodes.

Every hvac or requests exception is translated here, once, into the domain tree. Their text is
never passed on: hvac's exceptions carry Vault's URL and response body.

With several node addresses (an HA/raft cluster), calls go to the node a majority of nodes name
as leader, and move on to the next node on a connection failure, a timeout, a sealed node,
a redirect loop or "active node not found", within a bounded time budget. Three traps of a real
raft cluster are handled here:
- standbys answer reads themselves and lag the leader: reads carry the newest `X-Vault-Index`
  this process has seen with `X-Vault-Inconsistent: forward-active-node`, and a versioned read
  that misses is re-read from the elected leader, within the budget, before it counts as missing;
- a write whose response was lost may have been applied: every write is a check-and-set, and a
  retried write that meets a CAS mismatch compares the current data with its own before it
  reports a conflict, so a retry is never applied twice nor reported as a false 409;
- an old leader can keep claiming to be active after a freeze: the leader is the address a
  majority of nodes report from `sys/leader`, never one node's own claim.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import hvac
import hvac.adapters
import hvac.exceptions
import requests
import requests.adapters

from vaultauth.errors import Conflict, VaultauthError, VaultUnavailable
from vaultauth.ids import validate_mount
from vaultauth.ports import SecretVersionInfo

T = TypeVar("T")

_CAS_MISMATCH = "check-and-set parameter did not match"
_CONNECT_TIMEOUT = 1.5
_DISCOVERY_TIMEOUT = 1.0
_REDISCOVER_EVERY = 10.0
_ROUND_BACKOFF = 0.25

# Failures after which another node may succeed where this one did not.
_NODE_FAILURES: tuple[type[Exception], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.TooManyRedirects,
    hvac.exceptions.VaultDown,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
)


def _pooled_session(pool_size: int, verify: bool | str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or netrc from the environment between us and Vault
    session.verify = verify  # hvac takes the session's TLS verification as its own
    adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def translate(exc: Exception) -> NoReturn:
    """Raise the domain error for an hvac/requests exception (never its text)."""
    if isinstance(exc, hvac.exceptions.InvalidRequest) and _CAS_MISMATCH in str(exc):
        raise Conflict("a concurrent change to this record won; read it again and retry") from None
    if isinstance(exc, hvac.exceptions.VaultDown):
        raise VaultUnavailable("Vault is sealed or not ready", code="vault_sealed") from None
    if isinstance(exc, hvac.exceptions.InvalidPath):
        raise VaultUnavailable(
            "the KV mount is missing or not version 2", code="vault_misconfigured"
        ) from None
    if isinstance(exc, hvac.exceptions.Forbidden):
        raise VaultUnavailable("Vault refused the facade's token", code="vault_forbidden") from None
    if isinstance(exc, requests.exceptions.Timeout):
        raise VaultUnavailable("Vault did not answer in time", code="vault_timeout") from None
    if isinstance(exc, requests.exceptions.RequestException):
        raise VaultUnavailable("Vault is unreachable") from None
    if isinstance(exc, hvac.exceptions.VaultError):
        raise VaultUnavailable("Vault could not serve the request") from None
    raise exc


def _answer(response: requests.Response, extract: Callable[[Any], T]) -> T:
    """`extract` applied to the JSON body; an answer of another shape is VaultUnavailable."""
    try:
        return extract(response.json())
    except (ValueError, KeyError, TypeError):
        raise VaultUnavailable(
            "Vault answered in an unexpected shape", code="vault_bad_answer"
        ) from None


def _index_position(index: str) -> int:
    """The raft position inside an `X-Vault-Index` (base64 JSON with a "value"); -1 if opaque."""
    try:
        decoded = json.loads(base64.b64decode(index + "=" * (-len(index) % 4)))
        return int(decoded["value"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return -1


def _normalise(addr: str) -> str:
    return addr.strip().rstrip("/").lower()


class VaultSecretStore:
    """SecretStore on a KV v2 mount, through hvac on one pooled session shared by all nodes."""

    def __init__(
        self,
        addrs: str | Sequence[str],
        token: Callable[[], str],
        *,
        mount: str,
        timeout: float = 5.0,
        pool_size: int = 40,
        namespace: str | None = None,
        failover_budget: float = 8.0,
        verify: bool | str = True,
        token_rejected: Callable[[str], bool] | None = None,
    ) -> None:
        """After a 403, `token_rejected(token)` says whether a new token has been set (through
        `set_token`) in its place; the request is then retried once with it."""
        self._token_rejected = token_rejected
        self._addrs = [addrs] if isinstance(addrs, str) else list(addrs)
        if not self._addrs:
            raise VaultUnavailable("no Vault address configured", code="vault_not_configured")
        self._mount = validate_mount(mount, "VAULTAUTH_VAULT_MOUNT")
        self._budget = failover_budget
        self._session = _pooled_session(pool_size, verify)
        self._timeout = (min(_CONNECT_TIMEOUT, timeout), timeout)
        initial_token = token()
        self._clients = [
            hvac.Client(
                url=addr,
                token=initial_token,
                timeout=self._timeout,  # type: ignore[arg-type]  # requests takes a tuple
                session=self._session,
                namespace=namespace,
                adapter=hvac.adapters.RawAdapter,
            )
            for addr in self._addrs
        ]
        self._preferred = 0
        self._lock = threading.Lock()
        self._last_discovery = 0.0
        self._vault_index: str | None = None
        self._index_lock = threading.Lock()

    @property
    def addresses(self) -> list[str]:
        return list(self._addrs)

    def set_token(self, token: str) -> None:
        """Use `token` for every call from now on (after a login or renewal)."""
        for client in self._clients:
            client.token = token

    def close(self) -> None:
        self._session.close()

    # --- the KV v2 operations -------------------------------------------------------------

    def write(self, path: str, data: dict[str, Any], *, cas: int) -> int:
        """POST <mount>/data/<path> with options.cas; returns the new version."""
        attempts = 0

        def attempt(client: hvac.Client) -> requests.Response:
            nonlocal attempts
            attempts += 1
            return self._request(
                client, "POST", f"data/{path}", json={"options": {"cas": cas}, "data": data}
            )

        deadline = time.monotonic() + self._budget
        while True:
            try:
                response = self._with_failover(attempt)
            except Conflict:
                if len(self._clients) == 1:
                    raise
                if self._conflict_is_real(path, cas):
                    if attempts > 1 and self._our_write_landed(path, cas, data):
                        return cas + 1
                    raise
                if time.monotonic() >= deadline:
                    raise VaultUnavailable(
                        "Vault nodes disagree on the record's version; retry shortly",
                        code="vault_lagging",
                    ) from None
                time.sleep(_ROUND_BACKOFF)
                self._discover_leader(force=True)
                continue
            self._remember_index(response)
            return _answer(response, lambda body: int(body["data"]["version"]))

    def _conflict_is_real(self, path: str, cas: int) -> bool:
        """A CAS mismatch is real only if the key is past `cas`.

        Just after an election the new leader (or a standby) can judge the CAS on state that
        has not caught up yet, and reject a write whose `cas` is in fact current.
        """
        info = self.version_info(path)
        return (info.current_version if info is not None else 0) > cas

    def _our_write_landed(self, path: str, cas: int, data: dict[str, Any]) -> bool:
        """After a retry: did an earlier attempt, whose answer was lost, write `data`?"""
        landed = self._read_settled(path, cas + 1)
        if landed is None:
            raise VaultUnavailable(
                "Vault failed over during the write and its outcome is unknown; "
                "read the record and retry",
                code="vault_outcome_unknown",
            )
        return landed == data

    def read(self, path: str, version: int | None = None) -> dict[str, Any] | None:
        """GET <mount>/data/<path>?version=N. A KV v2 404 means missing, deleted or destroyed."""
        data = self._read_once(path, version)
        if data is None and version is not None and len(self._clients) > 1:
            # The index names this version, so it exists: a lagging node has not seen it yet.
            return self._read_settled(path, version)
        return data

    def destroy(self, path: str) -> None:
        """DELETE <mount>/metadata/<path>: every version and the metadata are removed."""
        response = self._with_failover(
            lambda client: self._request(client, "DELETE", f"metadata/{path}", missing_ok=True)
        )
        if response is not None:
            self._remember_index(response)

    def version_info(self, path: str) -> SecretVersionInfo | None:
        """GET <mount>/metadata/<path>."""
        response = self._with_failover(
            lambda client: self._request(client, "GET", f"metadata/{path}", missing_ok=True)
        )
        if response is None:
            return None
        return _answer(
            response,
            lambda body: SecretVersionInfo(
                current_version=int(body["data"]["current_version"]),
                updated_at=datetime.fromisoformat(
                    body["data"]["updated_time"].replace("Z", "+00:00")
                ),
            ),
        )

    def list_paths(self, folder: str) -> Iterator[str]:
        """LIST <mount>/metadata/<folder>, recursively; an unknown folder lists as empty."""
        response = self._with_failover(
            lambda client: self._request(client, "LIST", f"metadata/{folder}", missing_ok=True)
        )
        if response is None:
            return
        keys = _answer(response, lambda body: [str(name) for name in body["data"]["keys"]])
        for key in keys:
            if key.endswith("/"):
                yield from self.list_paths(f"{folder}/{key.rstrip('/')}")
            else:
                yield f"{folder}/{key}"

    def check_ready(self) -> None:
        """GET sys/health?standbyok=true on each node: ready when any node answers 200 (unsealed,
        active or standby); sealed or unreachable everywhere is VaultUnavailable."""
        statuses = []
        for client in self._clients:
            try:
                response = self._session.get(
                    f"{client.url}/v1/sys/health",
                    params={"standbyok": "true"},
                    timeout=(_DISCOVERY_TIMEOUT, _DISCOVERY_TIMEOUT),
                )
                statuses.append(response.status_code)
            except requests.exceptions.RequestException:
                statuses.append(0)
        if 200 in statuses:
            return
        if all(status == 0 for status in statuses):
            raise VaultUnavailable("Vault is unreachable")
        raise VaultUnavailable("Vault is sealed or not ready", code="vault_sealed")

    # --- plumbing -------------------------------------------------------------------------

    def _read_settled(self, path: str, version: int) -> dict[str, Any] | None:
        """Read `version` from the elected leader, waiting out replication lag within budget."""
        deadline = time.monotonic() + self._budget
        while True:
            self._discover_leader(force=True)
            data = self._read_once(path, version)
            if data is not None:
                return data
            if time.monotonic() >= deadline:
                return None
            time.sleep(_ROUND_BACKOFF)

    def _read_once(self, path: str, version: int | None) -> dict[str, Any] | None:
        params = {"version": str(version)} if version is not None else None
        response = self._with_failover(
            lambda client: self._request(
                client, "GET", f"data/{path}", params=params, missing_ok=True
            )
        )
        if response is None:
            return None
        return _answer(response, lambda body: dict(body["data"]["data"]))

    def _request(
        self,
        client: hvac.Client,
        method: str,
        endpoint: str,
        *,
        missing_ok: bool = False,
        retry_forbidden: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        sent_token = client.token
        headers = {}
        newest_index = self._vault_index
        if newest_index is not None and method in ("GET", "LIST"):
            headers = {
                "X-Vault-Index": newest_index,
                "X-Vault-Inconsistent": "forward-active-node",
            }
        try:
            response: requests.Response = client.adapter.request(
                method, f"/v1/{self._mount}/{endpoint}", headers=headers, **kwargs
            )
        except hvac.exceptions.InvalidPath:
            if missing_ok:
                return None  # type: ignore[return-value]  # callers with missing_ok take None
            raise
        except hvac.exceptions.Forbidden:
            # An expired or revoked token: the login may have a new one (vault_login.py).
            if not retry_forbidden or self._token_rejected is None:
                raise
            if not self._token_rejected(sent_token):
                raise
            return self._request(
                client, method, endpoint, missing_ok=missing_ok, retry_forbidden=False, **kwargs
            )
        return response

    def _remember_index(self, response: requests.Response) -> None:
        """Keep the newest `X-Vault-Index` seen; threads may deliver answers out of order."""
        index = response.headers.get("X-Vault-Index")
        if not index:
            return
        with self._index_lock:
            current = self._vault_index
            if current is None or _index_position(index) >= _index_position(current):
                self._vault_index = index

    def _with_failover(self, operation: Callable[[hvac.Client], T]) -> T:
        """Run `operation` on the preferred node; on a node failure try the next, in budget."""
        if len(self._clients) == 1:
            try:
                return operation(self._clients[0])
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
                translate(exc)
        self._discover_leader()
        deadline = time.monotonic() + self._budget
        last: Exception | None = None
        tried = 0
        while True:
            node = self._preferred
            try:
                return operation(self._clients[node])
            except _NODE_FAILURES as exc:
                last = exc
            except (hvac.exceptions.VaultError, requests.exceptions.RequestException) as exc:
                translate(exc)
            tried += 1
            with self._lock:
                if self._preferred == node:
                    self._preferred = (node + 1) % len(self._clients)
            if time.monotonic() >= deadline:
                break
            if tried % len(self._clients) == 0:
                time.sleep(_ROUND_BACKOFF)
                self._discover_leader(force=True)
        assert last is not None
        try:
            translate(last)
        except VaultauthError as error:
            raise VaultUnavailable(
                f"no Vault node could serve the request ({error.code})", code=error.code
            ) from None

    def _discover_leader(self, *, force: bool = False) -> None:
        """Prefer the node that a majority of all nodes name as leader in `sys/leader`."""
        now = time.monotonic()
        if not force and now - self._last_discovery < _REDISCOVER_EVERY:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is discovering; keep the current preference
        try:
            self._last_discovery = now
            votes: Counter[str] = Counter()
            for client in self._clients:
                try:
                    answer = self._session.get(
                        f"{client.url}/v1/sys/leader",
                        timeout=(_DISCOVERY_TIMEOUT, _DISCOVERY_TIMEOUT),
                    )
                    leader = answer.json().get("leader_address") if answer.ok else None
                except (requests.exceptions.RequestException, ValueError):
                    continue
                if leader:
                    votes[_normalise(leader)] += 1
            if not votes:
                return
            leader, count = votes.most_common(1)[0]
            if count * 2 <= len(self._clients):
                return  # no majority: never trust one node's own claim
            for position, addr in enumerate(self._addrs):
                if _normalise(addr) == leader:
                    self._preferred = position
                    return
        finally:
            self._lock.release()
