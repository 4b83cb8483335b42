"""How the facade logs in to Vault (token, AppRole, Kubernetes) and keeps its token alive.

`VaultLogin` holds the one current token of the process. `start()` runs a daemon thread that
renews the token at 2/3 of its TTL. When renewal is impossible - Vault refuses it, or caps it
because the token nears its max TTL - the thread logs in again while the old token is still
valid, so no request waits for a login or meets an expired token. The secret store is handed
each new token (`subscribe(store.set_token)`) and calls `rejected(token)` when Vault answers
403, which logs in again at once (a token revoked out of band) and says whether to retry.
Nothing here needs Vault at startup: a failed first login is retried in the background.

Login requests go through a short-lived hvac client each: `POST auth/<mount>/login` (AppRole,
Kubernetes), `GET auth/token/lookup-self` and `POST auth/token/renew-self` (the `default`
policy grants both). Vault's answers are never logged or passed on; credentials stay
`SecretStr` until the login request needs them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import hvac
import hvac.exceptions
import requests
from pydantic import SecretStr

from vaultauth.errors import InvalidInput, VaultUnavailable
from vaultauth.ids import validate_mount

log = logging.getLogger("vaultauth.vault_login")

DEFAULT_KUBERNETES_JWT_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
RENEW_AT = 2 / 3  # of the TTL
MIN_WAIT = 0.2
TOKEN_FILE_RECHECK = 10.0  # seconds between checks of a token file for a new token
FORCED_LOGIN_INTERVAL = 1.0  # at most one login per second from rejected() (a 403 storm)
MAX_BACKOFF = 30.0
LOOKUP_RETRY = 5.0  # seconds until a token Vault could not be asked about is looked up again

AuthMethodName = Literal["token", "approle", "kubernetes"]

# Failures of one node that another node may not share: a restarted raft node comes back sealed.
_NODE_DOWN: tuple[type[Exception], ...] = (
    requests.exceptions.RequestException,
    hvac.exceptions.VaultDown,
    hvac.exceptions.InternalServerError,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
)


@dataclass(frozen=True)
class Lease:
    """A token and what Vault said of its lifetime: `ttl` 0 means it does not expire (or is
    not ours to manage), None that Vault could not be asked yet."""

    token: str = field(repr=False)
    ttl: float | None
    renewable: bool


class LoginMethod(Protocol):
    """One way of obtaining a token."""

    @property
    def name(self) -> AuthMethodName: ...

    @property
    def can_login_again(self) -> bool:
        """Whether `login` can produce a new token (a fixed token cannot)."""

    def login(self, client: hvac.Client) -> Lease: ...


def _read_secret_file(path: Path, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError:
        raise VaultUnavailable(f"cannot read the {what} file", code="vault_login_failed") from None
    if not value:
        raise VaultUnavailable(f"the {what} file is empty", code="vault_login_failed")
    return value


def _one_of(value: SecretStr | None, file: Path | None, what: str) -> str:
    if value is not None:
        return value.get_secret_value()
    assert file is not None  # login_method_from() guarantees one of them
    return _read_secret_file(file, what)


def _lease_of(response: Any) -> Lease:
    """The token of a login answer; an answer without one is a failed login, not a crash."""
    try:
        auth = response["auth"]
        return Lease(
            token=str(auth["client_token"]),
            ttl=float(auth.get("lease_duration") or 0),
            renewable=bool(auth.get("renewable")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        raise VaultUnavailable(
            "Vault's login answer carried no token", code="vault_login_failed"
        ) from None


@dataclass(frozen=True)
class TokenLogin:
    """A token given to the facade (VAULTAUTH_VAULT_TOKEN or VAULTAUTH_VAULT_TOKEN_FILE).

    "Logging in again" re-reads the file, so a token file kept fresh by Vault Agent works.
    """

    token: SecretStr | None = None
    token_file: Path | None = None
    name: AuthMethodName = "token"

    @property
    def can_login_again(self) -> bool:
        return self.token_file is not None

    def login(self, client: hvac.Client) -> Lease:
        token = _one_of(self.token, self.token_file, "Vault token")
        client.token = token
        try:
            data = client.auth.token.lookup_self()["data"]
        except hvac.exceptions.Forbidden:
            # Without the `default` policy a token may not look itself up; use it unmanaged.
            return Lease(token=token, ttl=0, renewable=False)
        except requests.exceptions.RequestException:
            return Lease(token=token, ttl=None, renewable=False)  # look it up again later
        ttl = float(data.get("ttl") or 0)
        return Lease(token=token, ttl=ttl, renewable=bool(data.get("renewable")))


@dataclass(frozen=True)
class AppRoleLogin:
    """`POST auth/<mount>/login` with role_id and secret_id, each from the env or a file."""

    role_id: SecretStr | None = None
    role_id_file: Path | None = None
    secret_id: SecretStr | None = None
    secret_id_file: Path | None = None
    mount: str = "approle"
    name: AuthMethodName = "approle"
    can_login_again: bool = True

    def login(self, client: hvac.Client) -> Lease:
        role_id = _one_of(self.role_id, self.role_id_file, "AppRole role id")
        secret_id = _one_of(self.secret_id, self.secret_id_file, "AppRole secret id")
        response = client.auth.approle.login(
            role_id=role_id, secret_id=secret_id, use_token=False, mount_point=self.mount
        )
        return _lease_of(response)


@dataclass(frozen=True)
class KubernetesLogin:
    """`POST auth/<mount>/login` with the role and the pod's service-account JWT (re-read each
    time: the kubelet rotates projected tokens)."""

    role: str
    jwt_file: Path = DEFAULT_KUBERNETES_JWT_FILE
    mount: str = "kubernetes"
    name: AuthMethodName = "kubernetes"
    can_login_again: bool = True

    def login(self, client: hvac.Client) -> Lease:
        jwt = _read_secret_file(self.jwt_file, "service-account JWT")
        response = client.auth.kubernetes.login(
            role=self.role, jwt=jwt, use_token=False, mount_point=self.mount
        )
        return _lease_of(response)


class LoginSettings(Protocol):
    """The fields of `Settings` that choose the login method (a Protocol keeps this testable)."""

    vault_auth_method: Literal["auto", "token", "approle", "kubernetes"]
    vault_token: SecretStr | None
    vault_token_file: Path | None
    vault_approle_role_id: SecretStr | None
    vault_approle_role_id_file: Path | None
    vault_approle_secret_id: SecretStr | None
    vault_approle_secret_id_file: Path | None
    vault_approle_mount: str
    vault_kubernetes_role: str | None
    vault_kubernetes_jwt_file: Path
    vault_kubernetes_mount: str


def _exactly_one(value: object, file: object, env: str) -> None:
    if value is None and file is None:
        raise InvalidInput(f"set {env} or {env}_FILE", code="vault_not_configured", field=env)
    if value is not None and file is not None:
        raise InvalidInput(
            f"set only one of {env} and {env}_FILE", code="vault_not_configured", field=env
        )


def login_method_from(settings: LoginSettings) -> LoginMethod:
    """Validate the VAULTAUTH_VAULT_* login settings and return the method they describe.

    With VAULTAUTH_VAULT_AUTH_METHOD=auto (the default) the method is the one whose settings
    are present; settings for two methods at once must name the method explicitly.
    """
    method: str = settings.vault_auth_method
    if method == "auto":
        present = [
            name
            for name, configured in (
                ("token", settings.vault_token or settings.vault_token_file),
                ("approle", settings.vault_approle_role_id or settings.vault_approle_role_id_file),
                ("kubernetes", settings.vault_kubernetes_role),
            )
            if configured
        ]
        if not present:
            raise InvalidInput(
                "no Vault credentials: set VAULTAUTH_VAULT_TOKEN(_FILE), the AppRole role and "
                "secret id, or VAULTAUTH_VAULT_KUBERNETES_ROLE",
                code="vault_not_configured",
            )
        if len(present) > 1:
            raise InvalidInput(
                f"settings for several Vault login methods ({', '.join(present)}): "
                "choose one with VAULTAUTH_VAULT_AUTH_METHOD",
                code="vault_not_configured",
                field="VAULTAUTH_VAULT_AUTH_METHOD",
            )
        method = present[0]
    if method == "token":
        _exactly_one(settings.vault_token, settings.vault_token_file, "VAULTAUTH_VAULT_TOKEN")
        return TokenLogin(token=settings.vault_token, token_file=settings.vault_token_file)
    if method == "approle":
        _exactly_one(
            settings.vault_approle_role_id,
            settings.vault_approle_role_id_file,
            "VAULTAUTH_VAULT_APPROLE_ROLE_ID",
        )
        _exactly_one(
            settings.vault_approle_secret_id,
            settings.vault_approle_secret_id_file,
            "VAULTAUTH_VAULT_APPROLE_SECRET_ID",
        )
        return AppRoleLogin(
            role_id=settings.vault_approle_role_id,
            role_id_file=settings.vault_approle_role_id_file,
            secret_id=settings.vault_approle_secret_id,
            secret_id_file=settings.vault_approle_secret_id_file,
            mount=validate_mount(settings.vault_approle_mount, "VAULTAUTH_VAULT_APPROLE_MOUNT"),
        )
    if not settings.vault_kubernetes_role:
        raise InvalidInput(
            "set VAULTAUTH_VAULT_KUBERNETES_ROLE",
            code="vault_not_configured",
            field="VAULTAUTH_VAULT_KUBERNETES_ROLE",
        )
    return KubernetesLogin(
        role=settings.vault_kubernetes_role,
        jwt_file=settings.vault_kubernetes_jwt_file,
        mount=validate_mount(settings.vault_kubernetes_mount, "VAULTAUTH_VAULT_KUBERNETES_MOUNT"),
    )


@dataclass
class _Current:
    lease: Lease
    obtained_at: float  # monotonic
    login_ttl: float  # the TTL of the login that produced the token: a renewal below it is capped


@dataclass
class LoginStats:
    """Counters for tests; each event is also handed to `on_event` (metrics)."""

    logins: int = 0
    renewals: int = 0
    failures: int = 0
    forced_logins: int = 0  # logins because Vault refused the current token (rejected())
    on_event: Callable[[str], None] = field(default=lambda _event: None, repr=False)

    def add(self, event: Literal["login", "renewal", "failure", "forced_login"]) -> None:
        field_name = {"login": "logins", "renewal": "renewals", "failure": "failures"}.get(
            event, "forced_logins"
        )
        setattr(self, field_name, getattr(self, field_name) + 1)
        self.on_event(event)


class VaultLogin:
    """The facade's current Vault token: logged in, renewed and replaced in the background.

    Consumers either ask `token()` / `current_token()`, or `subscribe(callback)` to be handed
    every new token (the secret store's `set_token`).
    """

    def __init__(
        self,
        method: LoginMethod,
        addrs: list[str],
        *,
        namespace: str | None = None,
        timeout: float = 5.0,
        verify: bool | str = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not addrs:
            raise InvalidInput("no Vault address configured", code="vault_not_configured")
        self.method = method
        self.stats = LoginStats()
        self._clock = clock
        self._addrs = list(addrs)
        self._namespace = namespace
        self._timeout = timeout
        self._verify = verify
        self._lock = threading.Lock()  # one login or renewal at a time
        self._current: _Current | None = None
        self._subscribers: list[Callable[[str], None]] = []
        self._last_forced_login = -FORCED_LOGIN_INTERVAL
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"VaultLogin(method={self.method.name!r}, stats={self.stats!r})"

    # -- what the secret store calls ------------------------------------------------------

    def current_token(self) -> str:
        """The current token, or "" before the first successful login (never blocks)."""
        current = self._current
        return current.lease.token if current is not None else ""

    def token(self) -> str:
        """The current token; logs in first if there is none yet (raises VaultUnavailable)."""
        current = self._current
        if current is not None:
            return current.lease.token
        with self._lock:
            if self._current is None:
                self._login()
            assert self._current is not None
            return self._current.lease.token

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call `callback(token)` now (if logged in) and with every new token from then on."""
        with self._lock:
            self._subscribers.append(callback)
            if self._current is not None:
                callback(self._current.lease.token)

    def rejected(self, token: str) -> bool:
        """Vault answered 403 to `token`: log in again now if it is still the current one.

        True when a different token is now current (the caller retries once with it). A policy
        denial looks the same as a dead token, so forced logins are rate-limited.
        """
        with self._lock:
            current = self._current
            if current is not None and current.lease.token != token:
                return True
            if current is not None and not self.method.can_login_again:
                return False
            if self._clock() - self._last_forced_login < FORCED_LOGIN_INTERVAL:
                return False
            self._last_forced_login = self._clock()
            self.stats.add("forced_login")
            try:
                self._login()
            except VaultUnavailable:
                return False
            return self.current_token() != token

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Log in now if possible (a failure is retried in the background) and start renewing."""
        try:
            self.token()
        except VaultUnavailable as exc:
            log.warning("Vault login failed (%s); retrying in the background", exc.code)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="vaultauth-vault-login", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @contextmanager
    def _client(self, addr: str) -> Iterator[hvac.Client]:
        """A client for one login or renewal, on a session of its own: logins are rare, and a
        session closed right after leaves no idle socket behind."""
        with requests.Session() as session:
            session.trust_env = False  # no proxy or netrc from the environment
            session.verify = self._verify
            yield hvac.Client(
                url=addr,
                token="",  # never fall back to VAULT_TOKEN or ~/.vault-token
                timeout=self._timeout,  # type: ignore[arg-type]  # hvac takes a float; stub: int
                namespace=self._namespace,
                session=session,
            )

    # -- internals (called with self._lock held, or from the one background thread) -----------

    def _install(self, current: _Current) -> None:
        previous = self._current
        self._current = current
        if previous is None or previous.lease.token != current.lease.token:
            for callback in self._subscribers:
                callback(current.lease.token)

    def _login(self) -> None:
        """Log in through each address in turn; raise VaultUnavailable if none succeeds."""
        code = "vault_login_failed"
        for addr in self._addrs:
            try:
                with self._client(addr) as client:
                    lease = self.method.login(client)
            except requests.exceptions.RequestException:
                code = "vault_unreachable"
                continue  # another node may answer
            except _NODE_DOWN as exc:
                sealed = isinstance(exc, hvac.exceptions.VaultDown)
                code = "vault_sealed" if sealed else "vault_unavailable"
                continue
            except hvac.exceptions.VaultError as exc:
                self.stats.add("failure")
                log.warning("Vault login (%s) refused: %s", self.method.name, type(exc).__name__)
                raise VaultUnavailable(
                    "Vault refused the facade's login", code="vault_login_failed"
                ) from None
            self._install(_Current(lease, self._clock(), lease.ttl or 0))
            self.stats.add("login")
            log.info("logged in to Vault with %s; %s", self.method.name, _ttl_words(lease.ttl))
            return
        self.stats.add("failure")
        log.warning("Vault login (%s) failed: %s", self.method.name, code)
        raise VaultUnavailable("could not log in to Vault", code=code)

    def _renew(self, current: _Current) -> bool:
        """`POST auth/token/renew-self`; True if the token lives on for a full TTL."""
        for addr in self._addrs:
            try:
                with self._client(addr) as client:
                    client.token = current.lease.token
                    auth = client.auth.token.renew_self()["auth"]
            except _NODE_DOWN:
                continue
            except hvac.exceptions.VaultError:
                return False  # expired, revoked, or not renewable after all
            ttl = float(auth.get("lease_duration") or 0)
            self.stats.add("renewal")
            lease = Lease(current.lease.token, ttl, bool(auth.get("renewable")))
            self._install(_Current(lease, self._clock(), current.login_ttl))
            # Vault caps a renewal at the token's max TTL; a capped token is replaced early.
            return ttl >= current.login_ttl or not self.method.can_login_again
        raise VaultUnavailable("Vault is unreachable", code="vault_unreachable")

    def _refresh(self) -> None:
        current = self._current
        if current is None or current.lease.ttl is None:
            self._login()
            return
        if current.lease.ttl == 0:
            if self.method.can_login_again:
                self._login()  # a token file: pick up whatever token is there now
            return
        if current.lease.renewable and self._renew(current):
            return
        if self.method.can_login_again:
            self._login()
            return
        # A fixed token that cannot be renewed further: use it until it expires.
        log.warning("the Vault token can no longer be renewed; it will expire")
        self._install(_Current(Lease(current.lease.token, 0, False), self._clock(), 0))

    def _next_wait(self) -> float:
        current = self._current
        if current is None:
            return MIN_WAIT
        if current.lease.ttl is None:
            return LOOKUP_RETRY
        if current.lease.ttl == 0:
            return TOKEN_FILE_RECHECK if self.method.can_login_again else 3600.0
        due = current.obtained_at + current.lease.ttl * RENEW_AT
        return max(MIN_WAIT, due - self._clock())

    def _retry_wait(self, backoff: float) -> float:
        """After a failure: back off, but retry while the current token still has time left."""
        current = self._current
        if current is None or not current.lease.ttl:
            return backoff
        left = current.obtained_at + current.lease.ttl - self._clock()
        return max(MIN_WAIT, min(backoff, left / 3))

    def _run(self) -> None:
        wait = self._next_wait()
        backoff = 1.0
        while not self._stop.wait(wait):
            try:
                with self._lock:
                    self._refresh()
            except VaultUnavailable:
                wait = self._retry_wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception as exc:  # the thread must not die; request-time logins remain
                log.error("unexpected %s while renewing the Vault token", type(exc).__name__)
                wait = self._retry_wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            backoff = 1.0
            wait = self._next_wait()


def _ttl_words(ttl: float | None) -> str:
    """The token's lifetime for a person: a TTL of 0 is a token that never expires (a root or
    a non-expiring token), not one that has already expired."""
    if ttl is None:
        return "token ttl unknown"
    if ttl == 0:
        return "the token does not expire"
    return f"token ttl {ttl:g}s"
