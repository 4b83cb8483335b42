from fastapi.testclient import TestClient


def test_create_then_get(api: TestClient) -> None:
    created = api.post(
        "/v1/integrations/intg_1/auth", json={"authType": "BEARER_TOKEN", "token": "t0k"}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    got = api.get(f"/v1/integrations/intg_1/auth/{body['authId']}")
    assert got.status_code == 200
    assert got.json() == body
