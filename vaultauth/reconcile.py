"""Find, and optionally repair, every disagreement between the index and Vault.

Pure logic over the ports (`SecretStore`, `MetadataIndex`), so it is tested with fakes; the CLI
(`vaultauth reconcile`) wires it to the real adapters. What each disagreement means, given the
write order in `service.py`, and what repair does:

- secret_without_record: a crash between a create's Vault write and its index insert; the
  create was never acknowledged. Repair: destroy the secret.
- record_without_secret: the secret was removed outside vaultauth. Repair: remove the record.
- delete_unfinished: a crash or outage during a delete left the row `deleting`. Repair: destroy
  the secret and remove the row.
- index_behind_vault: a crash between an update's Vault write and its index update. Repair: roll
  the index forward from the newest Vault document (headers, API key name/position, version).
- index_ahead_of_vault: Vault restored from an older backup. No repair: needs a person.
- token_without_record: an OAuth 2.0 token document whose record and secret are gone (a crash
  during a delete, or a token obtained while the record was being deleted). Repair: destroy it.
  Repairs that remove a record or its secret destroy its token document too.
- unexpected_path: a secret under the prefix that vaultauth never writes. No repair.

It is safe while the service is serving: entries whose last change (index or Vault) is younger
than `min_age` are left alone, so a write in flight is never "repaired"; every repair re-checks
or is guarded (the roll-forward is a versioned index update; an orphan is re-looked-up first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from vaultauth.document import SecretDocument
from vaultauth.errors import CorruptSecret, InvalidInput
from vaultauth.idempotency import SYSTEM_FOLDER
from vaultauth.ids import secret_path, tenant_path, validate_path_segment
from vaultauth.models import AuthRecord
from vaultauth.oauth.state import TOKEN_DOCUMENT, token_path
from vaultauth.ports import MetadataIndex, SecretStore, SecretVersionInfo
from vaultauth.service import rolled_forward, utc_now

DEFAULT_MIN_AGE = timedelta(seconds=300)

RecordKey = tuple[str, str, str]


class Problem(StrEnum):
    SECRET_WITHOUT_RECORD = "secret_without_record"
    RECORD_WITHOUT_SECRET = "record_without_secret"
    DELETE_UNFINISHED = "delete_unfinished"
    INDEX_BEHIND_VAULT = "index_behind_vault"
    INDEX_AHEAD_OF_VAULT = "index_ahead_of_vault"
    TOKEN_WITHOUT_RECORD = "token_without_record"
    UNEXPECTED_PATH = "unexpected_path"


class Outcome(StrEnum):
    REPAIRED = "repaired"
    FOUND = "found"  # repairable, but --repair was not given
    NEEDS_ATTENTION = "needs attention"  # cannot be repaired automatically
    LEFT_ALONE = "left alone"  # younger than min_age: possibly a write in flight
    RESOLVED = "resolved meanwhile"  # a concurrent change made it consistent (or moved it on)


@dataclass(frozen=True)
class Finding:
    problem: Problem
    outcome: Outcome
    where: str  # tenant/integrationId/authId, or the KV path for an unexpected one
    detail: str


@dataclass
class Report:
    tenant: str | None
    repair: bool
    min_age: timedelta
    records_examined: int = 0
    secrets_examined: int = 0
    findings: list[Finding] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.findings if f.outcome is outcome)

    @property
    def unresolved(self) -> list[Finding]:
        """Problems still there after this run (found without --repair, or not repairable)."""
        return [f for f in self.findings if f.outcome in (Outcome.FOUND, Outcome.NEEDS_ATTENTION)]

    @property
    def exit_code(self) -> int:
        """0: consistent (or everything repaired, or left alone as too young); 1: otherwise."""
        return 1 if self.unresolved else 0

    def lines(self) -> list[str]:
        """The summary a person reads."""
        scope = f"tenant {self.tenant}" if self.tenant else "all tenants"
        out = [
            f"vaultauth reconcile: {scope}; {'repair' if self.repair else 'report only'}; "
            f"min age {int(self.min_age.total_seconds())} s",
            f"examined {self.records_examined} index records and "
            f"{self.secrets_examined} Vault secrets",
        ]
        for f in self.findings:
            out.append(f"  {f.outcome.value:<18} {f.problem.value:<22} {f.where}: {f.detail}")
        if not self.findings:
            out.append("consistent: index and Vault agree")
            return out
        parts = [f"{self.count(o)} {o.value}" for o in Outcome if self.count(o)]
        out.append(f"{len(self.findings)} finding(s): {', '.join(parts)}")
        if self.count(Outcome.FOUND):
            out.append("run again with --repair to fix the ones found")
        if self.count(Outcome.LEFT_ALONE):
            out.append("entries left alone are younger than --min-age; a later run examines them")
        return out


class Reconciler:
    """Compares the index with Vault under one KV prefix, and repairs on request."""

    def __init__(
        self,
        secrets: SecretStore,
        index: MetadataIndex,
        *,
        prefix: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._secrets = secrets
        self._index = index
        self._prefix = prefix
        self._clock = clock

    async def run(
        self,
        *,
        tenant: str | None = None,
        repair: bool = False,
        min_age: timedelta = DEFAULT_MIN_AGE,
    ) -> Report:
        """Examine every record and secret (of `tenant`, or all); repair when `repair`.

        Raises Unavailable when Vault or the index cannot be reached."""
        if tenant is not None:
            validate_path_segment(tenant, "tenant")
        report = Report(tenant=tenant, repair=repair, min_age=min_age)
        now = self._clock()
        # The index first: a record created after this snapshot has a secret younger than it.
        records = {
            (r.tenant, r.integration_id, r.auth_id): (r, deleting)
            async for r, deleting in self._index.all_records(tenant)
        }
        folder = tenant_path(self._prefix, tenant) if tenant is not None else self._prefix
        stored: set[RecordKey] = set()
        tokens: set[RecordKey] = set()
        system = f"{self._prefix}/{SYSTEM_FOLDER}/"
        async for path in self._secrets.list_paths(folder):
            if path.startswith(system):
                continue  # vaultauth's own (the idempotency key), not a record's secret
            report.secrets_examined += 1
            if path.endswith(f"/{TOKEN_DOCUMENT}"):
                token_key = self._key_of(path.removesuffix(f"/{TOKEN_DOCUMENT}"))
                if token_key is not None:
                    tokens.add(token_key)
                    continue
            key = self._key_of(path)
            if key is None:
                report.findings.append(
                    Finding(
                        Problem.UNEXPECTED_PATH,
                        Outcome.NEEDS_ATTENTION,
                        path,
                        "not a path vaultauth writes; left untouched",
                    )
                )
            else:
                stored.add(key)
        report.records_examined = len(records)

        def young(*moments: datetime) -> bool:
            return now - max(moments) < min_age

        for key in sorted(records):
            record, deleting = records[key]
            info = await self._secrets.version_info(self._path(key))
            moments = [record.updated_at] + ([info.updated_at] if info else [])
            finding = await self._check_record(record, deleting, info, repair, young(*moments))
            if finding is not None:
                report.findings.append(finding)
        for key in sorted(stored - records.keys()):
            finding = await self._check_orphan(key, repair, young)
            if finding is not None:
                report.findings.append(finding)
        for key in sorted(tokens - records.keys() - stored):
            finding = await self._check_orphan_token(key, repair, young)
            if finding is not None:
                report.findings.append(finding)
        return report

    def _path(self, key: RecordKey) -> str:
        return secret_path(self._prefix, *key)

    def _key_of(self, path: str) -> RecordKey | None:
        """(tenant, integrationId, authId) of a path this service writes, else None."""
        parts = path.removeprefix(f"{self._prefix}/").split("/")
        if len(parts) != 5 or parts[1] != "integrations" or parts[3] != "auth":
            return None
        tenant, _, integration_id, _, auth_id = parts
        try:
            for segment in (tenant, integration_id, auth_id):
                validate_path_segment(segment, "path")
        except InvalidInput:
            return None
        return tenant, integration_id, auth_id

    async def _check_record(
        self,
        record: AuthRecord,
        deleting: bool,
        info: SecretVersionInfo | None,
        repair: bool,
        young: bool,
    ) -> Finding | None:
        key = _key_of_record(record)
        where = "/".join(key)
        if deleting:
            problem, plan = Problem.DELETE_UNFINISHED, "finish the delete (secret and record)"
        elif info is None:
            problem, plan = Problem.RECORD_WITHOUT_SECRET, "remove the record (its secret is gone)"
        elif info.current_version > record.version:
            problem = Problem.INDEX_BEHIND_VAULT
            plan = f"roll the index forward from v{record.version} to v{info.current_version}"
        elif info.current_version < record.version:
            return Finding(
                Problem.INDEX_AHEAD_OF_VAULT,
                Outcome.LEFT_ALONE if young else Outcome.NEEDS_ATTENTION,
                where,
                f"the index names v{record.version} but Vault's newest is "
                f"v{info.current_version} (was Vault restored from a backup?)",
            )
        else:
            return None
        if young:
            return Finding(problem, Outcome.LEFT_ALONE, where, f"would {plan}")
        if not repair:
            return Finding(problem, Outcome.FOUND, where, f"--repair would {plan}")
        path = self._path(key)
        if problem is Problem.DELETE_UNFINISHED:
            await self._secrets.destroy(token_path(path))
            await self._secrets.destroy(path)
            await self._index.remove(*key)
            return Finding(problem, Outcome.REPAIRED, where, "finished the delete")
        if problem is Problem.RECORD_WITHOUT_SECRET:
            if await self._secrets.version_info(path) is not None:
                return Finding(problem, Outcome.RESOLVED, where, "the secret is there now")
            await self._secrets.destroy(token_path(path))
            await self._index.remove(*key)
            return Finding(problem, Outcome.REPAIRED, where, "removed the record")
        assert info is not None
        return await self._roll_forward(record, info, where)

    async def _roll_forward(
        self, record: AuthRecord, info: SecretVersionInfo, where: str
    ) -> Finding:
        problem = Problem.INDEX_BEHIND_VAULT
        data = await self._secrets.read(self._path(_key_of_record(record)), info.current_version)
        if data is None:
            return Finding(
                problem,
                Outcome.NEEDS_ATTENTION,
                where,
                f"Vault's newest version v{info.current_version} is deleted; cannot roll forward",
            )
        try:
            document = SecretDocument.from_vault(data)
        except CorruptSecret:
            return Finding(
                problem,
                Outcome.NEEDS_ATTENTION,
                where,
                f"Vault's v{info.current_version} is not a vaultauth document",
            )
        if document.auth_type is not record.auth_type:
            return Finding(
                problem,
                Outcome.NEEDS_ATTENTION,
                where,
                f"Vault's v{info.current_version} has authType {document.auth_type.value}, "
                f"the record {record.auth_type.value}",
            )
        rolled = rolled_forward(record, document, info)
        if not await self._index.update(rolled, expected_version=record.version):
            return Finding(problem, Outcome.RESOLVED, where, "the record changed meanwhile")
        return Finding(
            problem,
            Outcome.REPAIRED,
            where,
            f"rolled the index forward from v{record.version} to v{info.current_version}",
        )

    async def _check_orphan(
        self, key: RecordKey, repair: bool, young: Callable[..., bool]
    ) -> Finding | None:
        problem = Problem.SECRET_WITHOUT_RECORD
        where = "/".join(key)
        path = self._path(key)
        info = await self._secrets.version_info(path)
        if info is None:
            return None  # removed since it was listed
        if young(info.updated_at):
            return Finding(problem, Outcome.LEFT_ALONE, where, "would destroy the secret")
        if not repair:
            return Finding(problem, Outcome.FOUND, where, "--repair would destroy the secret")
        if await self._index.get(*key) is not None:
            return Finding(problem, Outcome.RESOLVED, where, "its record exists now")
        await self._secrets.destroy(token_path(path))
        await self._secrets.destroy(path)
        return Finding(problem, Outcome.REPAIRED, where, "destroyed it (never acknowledged)")

    async def _check_orphan_token(
        self, key: RecordKey, repair: bool, young: Callable[..., bool]
    ) -> Finding | None:
        problem = Problem.TOKEN_WITHOUT_RECORD
        where = "/".join(key)
        path = token_path(self._path(key))
        info = await self._secrets.version_info(path)
        if info is None:
            return None  # removed since it was listed
        if young(info.updated_at):
            return Finding(problem, Outcome.LEFT_ALONE, where, "would destroy the token document")
        if not repair:
            return Finding(
                problem, Outcome.FOUND, where, "--repair would destroy the token document"
            )
        if await self._index.get_current(*key) is not None:
            return Finding(problem, Outcome.RESOLVED, where, "its record exists now")
        await self._secrets.destroy(path)
        return Finding(problem, Outcome.REPAIRED, where, "destroyed the token document")


def _key_of_record(record: AuthRecord) -> RecordKey:
    return record.tenant, record.integration_id, record.auth_id
