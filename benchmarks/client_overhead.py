"""What the client library adds to each outbound request once its cache is warm.

Starts its own OpenBao and one `vaultauth serve`, stores a record (an API key in a header, two
static headers, allowedHosts), and builds `IntegrationAuth` and `RequestsIntegrationAuth` on it
through the facade. The first request fills the cache; then N requests go to a third party that
answers in-process (httpx.MockTransport; for requests, the auth call on a prepared request), and
the per-request time is compared with the same requests carrying the same headers set by hand:
what is left is the library's own work (the cache, the destination and header checks, the
redirect guard), not the cost of sending three more headers. Only this process's own time is
measured: the facade is not called again while the cache is warm.

    .venv/bin/python benchmarks/client_overhead.py [--requests 20000]

Target: at most 20 µs a request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import vs_vault

from vaultauth.client import IntegrationAuth, RequestsIntegrationAuth

TARGET_US = 20.0
THIRD_PARTY = "https://api.example.test/v1/invoices"
# What the record below puts on each request, set by hand on the requests it is compared with.
SAME_HEADERS = {
    "X-Api-Key": "k-overhead",
    "Accept": "application/json",
    "X-Tenant-Secret": "s-overhead",
}


def per_request_us(send: Callable[[], object], count: int) -> float:
    for _ in range(min(count // 10, 1000)):  # warm-up
        send()
    started = time.process_time()
    for _ in range(count):
        send()
    return (time.process_time() - started) / count * 1e6


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def measure(facade_url: str, key: str, integration_id: str, auth_id: str, count: int) -> None:
    rows: list[tuple[str, float, float]] = []

    auth = IntegrationAuth.from_facade(facade_url, key, integration_id, auth_id)
    with (
        httpx.Client(transport=httpx.MockTransport(answer), headers=SAME_HEADERS) as plain,
        httpx.Client(transport=httpx.MockTransport(answer), auth=auth) as authed,
    ):
        authed.get(THIRD_PARTY).raise_for_status()  # fills the cache from the facade
        rows.append(
            (
                "httpx.Client",
                per_request_us(lambda: plain.get(THIRD_PARTY), count),
                per_request_us(lambda: authed.get(THIRD_PARTY), count),
            )
        )

    async def async_rows() -> tuple[float, float]:
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(answer), headers=SAME_HEADERS) as plain,
            httpx.AsyncClient(transport=httpx.MockTransport(answer), auth=auth) as authed,
        ):
            await authed.get(THIRD_PARTY)

            async def timed(client: httpx.AsyncClient) -> float:
                started = time.process_time()
                for _ in range(count):
                    await client.get(THIRD_PARTY)
                return (time.process_time() - started) / count * 1e6

            await timed(plain)  # warm-up of both
            await timed(authed)
            return await timed(plain), await timed(authed)

    rows.append(("httpx.AsyncClient", *asyncio.run(async_rows())))
    auth.close()

    requests_auth = RequestsIntegrationAuth.from_facade(facade_url, key, integration_id, auth_id)
    prepared = requests.Request("GET", THIRD_PARTY).prepare()
    requests_auth(prepared.copy())  # fills the cache

    def by_hand() -> requests.PreparedRequest:
        copy = prepared.copy()
        copy.headers.update(SAME_HEADERS)
        return copy

    rows.append(
        (
            "requests (the auth call)",
            per_request_us(by_hand, count),
            per_request_us(lambda: requests_auth(prepared.copy()), count),
        )
    )
    requests_auth.close()

    print(f"\nper outbound request, warm cache, {count:,} requests each (CPU of this process)")
    header = f"{'client':26s} {'by hand':>9s} {'auth=':>9s} {'added':>9s}"
    print(f"  {header}   target ≤ {TARGET_US:.0f} µs")
    for name, without, with_auth in rows:
        added = with_auth - without
        verdict = "PASS" if added <= TARGET_US else "FAIL"
        print(f"  {name:26s} {without:7.1f}µs {with_auth:7.1f}µs {added:7.1f}µs   {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    plan = vs_vault.parse_args(["--quick"])
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        bao = vs_vault.start_bao(workdir, stack)
        index_url = stack.enter_context(vs_vault.open_index(plan, workdir, "client"))
        key = vs_vault.make_api_key(bao, index_url, workdir)
        facade = vs_vault.start_facade("client", bao, index_url, None, plan, workdir, stack)
        body = {
            "authType": "API_KEY",
            "apiKey": {"key": "X-Api-Key", "value": "k-overhead", "position": "header"},
            "headers": [
                {"key": "Accept", "value": "application/json"},
                {"key": "X-Tenant-Secret", "value": "s-overhead", "secret": True},
            ],
            "allowedHosts": ["api.example.test"],
        }
        created = httpx.post(
            f"{facade.url}/v1/integrations/intg_client/auth",
            json=body,
            headers={"X-API-Key": key},
            timeout=10,
        )
        created.raise_for_status()
        measure(facade.url, key, "intg_client", created.json()["authId"], args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
