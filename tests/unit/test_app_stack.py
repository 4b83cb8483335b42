"""The order of the app's layers: ours outermost, FastAPI's own only in front of the router."""

from __future__ import annotations

from pathlib import Path

from starlette.middleware.errors import ServerErrorMiddleware

from vaultauth.api import create_app
from vaultauth.api.fastpath import FastPath
from vaultauth.api.observe import RequestObserver
from vaultauth.settings import Settings


def test_the_fast_path_sits_in_front_of_fastapis_own_layers(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    layers = []
    layer = app.build_middleware_stack()
    while layer is not None and len(layers) < 20:
        layers.append(type(layer))
        layer = getattr(layer, "app", None)
    assert layers[0] is RequestObserver
    fast = layers.index(FastPath)
    # Everything before the fast path is ours; FastAPI's layers come after it.
    assert all(cls.__module__.startswith("vaultauth.") for cls in layers[: fast + 1])
    assert any(not cls.__module__.startswith("vaultauth.") for cls in layers[fast + 1 :])
    # Unexpected errors are RequestObserver's to answer (JSON, logged by type only).
    assert ServerErrorMiddleware not in layers
