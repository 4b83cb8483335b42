"""ASGI middleware giving every request an id, an access-log line and its metrics.

It is the outermost layer, so it also sees 413s and 500s. An exception that escapes the app is
answered here with the usual 500 body (and the request id), and logged by type only. A request
whose client hung up before it was answered (mid-body, say) is recorded as 499, not as a 500.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vaultauth.api.audit import audit_event, keep_error_body, start_entry
from vaultauth.api.errors import error_response
from vaultauth.api.http_protocol import RESPONSE_WRITER, HeldHeadTransport
from vaultauth.logs import REQUEST_ID, log_events, request_id_from
from vaultauth.metrics import Metrics

access_log = logging.getLogger("vaultauth.access")
log = logging.getLogger("vaultauth.api")

UNMATCHED_ROUTE = "<unmatched>"
# nginx's status for a request whose client closed the connection before it was answered: never
# one of ours on the wire, it keeps a hang-up out of the server errors in logs and metrics.
CLIENT_CLOSED_REQUEST = 499
OTHER_METHOD = "OTHER"
# A client may send any token as its method: each new one would be a new metric series.
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/integrations/{integrationId}/auth`), never ids."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def method_label(scope: Scope) -> str:
    """The request's method if it is a standard one, else `OTHER`."""
    method = scope.get("method")
    return method if method in _KNOWN_METHODS else OTHER_METHOD


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(_header(scope, b"x-request-id"))
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        audit = start_entry(scope)
        client_gone = False
        # Served by OneWriteHttpToolsProtocol: the answer's head leaves with its body.
        writer: HeldHeadTransport | None = scope.get(RESPONSE_WRITER)

        async def receive_watched() -> Message:
            nonlocal client_gone
            message = await receive()
            if message["type"] == "http.disconnect":
                client_gone = True
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                if writer is not None:
                    writer.hold_next_write()
            elif audit is not None and status >= 400 and message["type"] == "http.response.body":
                keep_error_body(audit, message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_watched, send_with_id)
        except Exception as exc:
            if client_gone and not response_started:
                # What failed was reading from, or answering, a connection that is closed.
                status = CLIENT_CLOSED_REQUEST
                log.info("client closed the connection (%s)", type(exc).__name__)
                return
            log.error(
                "unexpected error of type %s",
                type(exc).__name__,
                exc_info=True,
            )
            if response_started:
                raise
            response = error_response(500, "internal_error", "an unexpected error occurred")
            await response(scope, receive, send_with_id)
        else:
            if client_gone and not response_started:
                status = CLIENT_CLOSED_REQUEST  # no answer was due: the client hung up first
        finally:
            if writer is not None:
                writer.release()
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = method_label(scope)
            self.metrics.observe_request(route, method, status, seconds)
            access = {
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            lines = [(access_log, "request", access)]
            if audit is not None:
                lines.append(audit_event(audit, scope, status))
            log_events(lines)
            REQUEST_ID.reset(token)
