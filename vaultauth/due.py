"""`vaultauth due`: the records to rotate or that expire soon, for cron jobs (pure + index)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from vaultauth.errors import InvalidInput
from vaultauth.index.sql import SqlMetadataIndex

_WITHIN = re.compile(r"(\d{1,6})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
PAGE = 200


def parse_within(value: str) -> timedelta:
    """`30m`, `12h`, `7d`, `2w` as a timedelta."""
    match = _WITHIN.fullmatch(value.strip())
    if match is None:
        raise InvalidInput(
            "--within takes a number and a unit: 30m, 12h, 7d or 2w", code="invalid_within"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def due_lines(
    index: SqlMetadataIndex, tenant: str | None, before: datetime
) -> list[dict[str, object]]:
    """Every record (of `tenant`, or of all) due before `before`, the earliest first."""
    found: list[dict[str, object]] = []
    for name in [tenant] if tenant is not None else index.tenants():
        cursor = None
        while True:
            page = index.due_page(name, before=before, limit=PAGE, cursor=cursor)
            for record in page.records:
                expiring = record.expires_at is not None and record.expires_at == record.due_at
                found.append(
                    {
                        "dueAt": record.due_at.isoformat() if record.due_at else None,
                        "reason": "expiry" if expiring else "rotate",
                        "tenant": record.tenant,
                        "integrationId": record.integration_id,
                        "authId": record.auth_id,
                        "label": record.label,
                        "expiresAt": _iso(record.expires_at),
                        "rotateAfter": _iso(record.rotate_after),
                    }
                )
            cursor = page.next_cursor
            if cursor is None:
                break
    found.sort(key=lambda entry: str(entry["dueAt"]))
    return found


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
