"""The HTTP transport: FastAPI app, wire schemas, routes and the one error table."""

from vaultauth.api.app import create_app

__all__ = ["create_app"]
