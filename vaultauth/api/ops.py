"""Operations endpoints, without API keys: /healthz, /readyz and /metrics.

/healthz says the process answers; /readyz says it can serve (Vault reachable and unsealed, the
index answering), else 503 with Retry-After so a load balancer takes the replica out of rotation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from vaultauth.api.deps import get_runtime
from vaultauth.errors import Unavailable, VaultUnavailable
from vaultauth.metrics import CONTENT_TYPE_LATEST, Metrics
from vaultauth.wiring import Runtime

router = APIRouter(tags=["operations"])
# /metrics on the API listener, unless VAULTAUTH_METRICS_PORT gives it a listener of its own.
metrics_router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no backend is consulted)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Vault or the index is unavailable"}})
async def readyz(runtime: Annotated[Runtime, Depends(get_runtime)]) -> JSONResponse:
    """Vault reachable and unsealed, the facade logged in to it, the index answering: 200."""
    checks: dict[str, str] = {}
    probes = (
        ("vault", runtime.secrets.check_ready),
        ("vault_login", lambda: _logged_in(runtime)),
        ("index", runtime.index.check_ready),
    )
    for name, check in probes:
        try:
            await check()
        except Unavailable as exc:
            checks[name] = exc.code
        else:
            checks[name] = "ok"
    if all(result == "ok" for result in checks.values()):
        return JSONResponse({"status": "ready", "checks": checks})
    return JSONResponse(
        {"status": "unavailable", "checks": checks},
        status_code=503,
        headers={"Retry-After": str(runtime.settings.retry_after_seconds)},
    )


async def _logged_in(runtime: Runtime) -> None:
    """A facade that has never logged in to Vault cannot serve, however healthy Vault is."""
    login = runtime.vault_login
    if login is not None and not login.current_token():
        raise VaultUnavailable("the facade has not logged in to Vault", code="vault_login_failed")


@metrics_router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
