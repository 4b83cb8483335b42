"""The facade client's injectable transports: the ASGI app itself, no socket in between."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from tests.support.live import through_test_client
from vaultauth.client import FacadeClient, IntegrationAuth
from vaultauth.keys import Scope


def test_sync_and_async_through_the_app(api: TestClient, make_key: Callable[..., str]) -> None:
    created = api.post(
        "/v1/integrations/intg_t/auth",
        json={"authType": "API_KEY", "apiKey": {"key": "X-Key", "value": "cnry-asgi-2Lp"}},
    )
    auth_id = created.json()["authId"]
    key = make_key("acme", [Scope.CREDENTIALS_READ])
    app = api.app

    with FacadeClient("http://facade", key, transport=through_test_client(api)) as client:
        assert client.resolve("intg_t", auth_id).headers == {"X-Key": "cnry-asgi-2Lp"}

    async def through_asgi() -> dict[str, str]:
        auth = IntegrationAuth.from_facade(
            "http://facade",
            key,
            "intg_t",
            auth_id,
            async_transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        )
        upstream = httpx.MockTransport(
            lambda request: httpx.Response(200, json=dict(request.headers))
        )
        async with httpx.AsyncClient(auth=auth, transport=upstream) as http:
            seen: dict[str, str] = (await http.get("https://api.test/")).json()
        await auth.aclose()
        return seen

    assert asyncio.run(through_asgi())["x-key"] == "cnry-asgi-2Lp"
