"""/docs serves Swagger UI from the package (no third-party script), and can be turned off."""

from __future__ import annotations

from fastapi.testclient import TestClient

from vaultauth.api import create_app
from vaultauth.settings import Settings


def test_the_docs_page_loads_only_assets_served_by_the_facade(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "/openapi.json" in page.text
    # Every script and stylesheet comes from here: no CDN, no other host.
    assert "http://" not in page.text.replace("http://www.w3.org", "")
    assert "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        served = app_client.get(f"/docs/assets/{asset}")
        assert served.status_code == 200
        assert len(served.content) > 10_000
    assert app_client.get("/redoc").status_code == 404


def test_operators_can_turn_the_docs_off(settings: Settings) -> None:
    with TestClient(create_app(settings.model_copy(update={"docs": False}))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 404
        assert client.get("/openapi.json").status_code == 200
