"""Reconcile as pure logic: every kind of disagreement, report-only vs repair, --min-age, races."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.memory import MemoryIndex, MemorySecretStore
from vaultauth.document import SecretDocument
from vaultauth.errors import InvalidInput
from vaultauth.ids import secret_path
from vaultauth.models import (
    ApiKeyCredential,
    ApiKeyPosition,
    AuthRecord,
    AuthType,
    Header,
)
from vaultauth.oauth.state import TokenState, token_path
from vaultauth.reconcile import Outcome, Problem, Reconciler, Report
from vaultauth.service import AuthCreate, AuthUpdate, CredentialService

pytestmark = pytest.mark.anyio

PREFIX = "vaultauth"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OLD = timedelta(seconds=300)


@dataclass
class World:
    now: datetime
    secrets: MemorySecretStore
    index: MemoryIndex
    service: CredentialService

    def clock(self) -> datetime:
        return self.now

    async def reconcile(
        self, *, repair: bool = False, min_age: timedelta = OLD, tenant: str | None = None
    ) -> Report:
        reconciler = Reconciler(self.secrets, self.index, prefix=PREFIX, clock=self.clock)
        return await reconciler.run(tenant=tenant, repair=repair, min_age=min_age)

    def later(self, seconds: float = 600) -> None:
        self.now += timedelta(seconds=seconds)

    async def create(self, tenant: str = "acme", integration: str = "intg_1") -> AuthRecord:
        body = AuthCreate(
            AuthType.API_KEY,
            {"apiKey": {"key": "X-Key", "value": "s3cret", "position": "header"}},
            (Header(key="Accept", value="json"),),
        )
        return await self.service.create(tenant, integration, body)

    def path(self, record: AuthRecord) -> str:
        return secret_path(PREFIX, record.tenant, record.integration_id, record.auth_id)


@pytest.fixture
def world() -> World:
    counter = iter(range(1000))
    holder: list[World] = []
    secrets = MemorySecretStore(clock=lambda: holder[0].now)
    index = MemoryIndex()
    service = CredentialService(
        secrets,
        index,
        prefix=PREFIX,
        clock=lambda: holder[0].now,
        new_id=lambda: f"auth_{next(counter):012d}",
    )
    holder.append(World(T0, secrets, index, service))
    return holder[0]


def only(report: Report) -> tuple[Problem, Outcome]:
    assert len(report.findings) == 1, report.lines()
    return report.findings[0].problem, report.findings[0].outcome


async def test_a_consistent_state_reports_nothing_and_exits_0(world: World) -> None:
    record = await world.create()
    await world.service.update("acme", "intg_1", record.auth_id, AuthUpdate(headers=()))
    world.later()
    report = await world.reconcile(repair=True)
    assert report.findings == []
    assert report.exit_code == 0
    assert (report.records_examined, report.secrets_examined) == (1, 1)
    assert "consistent" in report.lines()[-1]


async def test_secret_without_record_is_reported_then_destroyed(world: World) -> None:
    kept = await world.create()
    orphan = await world.create()
    await world.index.remove("acme", "intg_1", orphan.auth_id)  # as if the insert never happened
    world.later()

    report = await world.reconcile()
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.FOUND)
    assert report.exit_code == 1
    assert world.path(orphan) in world.secrets.paths

    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.REPAIRED)
    assert report.exit_code == 0
    assert world.path(orphan) not in world.secrets.paths
    assert world.path(kept) in world.secrets.paths
    assert (await world.reconcile()).findings == []


async def test_entries_younger_than_min_age_are_left_alone(world: World) -> None:
    orphan = await world.create()
    await world.index.remove("acme", "intg_1", orphan.auth_id)
    world.later(10)

    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.LEFT_ALONE)
    assert report.exit_code == 0
    assert world.path(orphan) in world.secrets.paths

    report = await world.reconcile(repair=True, min_age=timedelta(0))
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.REPAIRED)


async def test_record_without_secret_is_removed(world: World) -> None:
    record = await world.create()
    world.secrets.paths.pop(world.path(record))
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.RECORD_WITHOUT_SECRET, Outcome.REPAIRED)
    assert world.index.rows == {}


async def test_an_unfinished_delete_is_finished(world: World) -> None:
    record = await world.create()
    await world.index.mark_deleting("acme", "intg_1", record.auth_id)  # crash before Vault destroy
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.DELETE_UNFINISHED, Outcome.REPAIRED)
    assert world.index.rows == {}
    assert world.secrets.paths == {}


async def test_an_unfinished_delete_whose_secret_is_gone_is_finished(world: World) -> None:
    record = await world.create()
    await world.index.mark_deleting("acme", "intg_1", record.auth_id)
    await world.secrets.destroy(world.path(record))  # crash before the row was removed
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.DELETE_UNFINISHED, Outcome.REPAIRED)
    assert world.index.rows == {}


async def test_index_behind_vault_is_rolled_forward_from_the_document(world: World) -> None:
    record = await world.create()
    world.later(60)
    # An update whose Vault write landed and whose index update did not (crash between them).
    newer = SecretDocument(
        AuthType.API_KEY,
        ApiKeyCredential.model_validate({"key": "X-Other", "value": "n3w", "position": "query"}),
        (Header(key="Accept", value="xml"), Header(key="X-Trace", value="1")),
    )
    await world.secrets.write(world.path(record), newer.to_vault(), cas=1)
    written_at = world.now
    world.later()

    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.INDEX_BEHIND_VAULT, Outcome.REPAIRED)
    rolled = await world.index.get("acme", "intg_1", record.auth_id)
    assert rolled is not None
    assert rolled.version == 2
    assert rolled.headers == newer.headers
    assert (rolled.api_key_name, rolled.api_key_position) == ("X-Other", ApiKeyPosition.QUERY)
    assert rolled.updated_at == written_at
    assert rolled.created_at == record.created_at
    # And the service can update it again (CAS against the right version).
    updated = await world.service.update("acme", "intg_1", record.auth_id, AuthUpdate(headers=()))
    assert updated.version == 3


async def test_index_ahead_of_vault_cannot_be_repaired(world: World) -> None:
    record = await world.create()
    world.index.rows[("acme", "intg_1", record.auth_id)] = (record.with_changes(version=5), False)
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.INDEX_AHEAD_OF_VAULT, Outcome.NEEDS_ATTENTION)
    assert report.exit_code == 1
    assert any("needs attention" in line for line in report.lines())


async def test_a_newest_version_that_is_deleted_needs_attention(world: World) -> None:
    record = await world.create()
    await world.secrets.write(world.path(record), {"authType": "API_KEY"}, cas=1)
    world.secrets.paths[world.path(record)][-1].deleted = True
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.INDEX_BEHIND_VAULT, Outcome.NEEDS_ATTENTION)
    assert await world.index.get("acme", "intg_1", record.auth_id) == record


async def test_a_malformed_newer_document_needs_attention(world: World) -> None:
    record = await world.create()
    await world.secrets.write(world.path(record), {"authType": "API_KEY", "apiKey": "x"}, cas=1)
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.INDEX_BEHIND_VAULT, Outcome.NEEDS_ATTENTION)


async def test_a_newer_document_of_another_auth_type_needs_attention(world: World) -> None:
    record = await world.create()
    await world.secrets.write(world.path(record), {"authType": "BEARER_TOKEN", "token": "t"}, cas=1)
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.INDEX_BEHIND_VAULT, Outcome.NEEDS_ATTENTION)


async def test_unexpected_paths_are_reported_and_never_touched(world: World) -> None:
    await world.secrets.write(f"{PREFIX}/acme/something/else", {"x": "y"}, cas=0)
    world.later()
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.UNEXPECTED_PATH, Outcome.NEEDS_ATTENTION)
    assert f"{PREFIX}/acme/something/else" in world.secrets.paths


async def test_tenant_limits_what_is_examined(world: World) -> None:
    mine = await world.create("acme")
    theirs = await world.create("other")
    await world.index.remove("acme", "intg_1", mine.auth_id)
    await world.index.remove("other", "intg_1", theirs.auth_id)
    world.later()
    report = await world.reconcile(repair=True, tenant="acme")
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.REPAIRED)
    assert report.findings[0].where.startswith("acme/")
    assert world.path(theirs) in world.secrets.paths


async def test_a_bad_tenant_is_refused() -> None:
    reconciler = Reconciler(MemorySecretStore(), MemoryIndex(), prefix=PREFIX)
    with pytest.raises(InvalidInput):
        await reconciler.run(tenant="../x")


async def test_an_orphan_whose_record_appears_meanwhile_is_kept(world: World) -> None:
    record = await world.create()
    world.later()

    class LateIndex(MemoryIndex):
        """The record was inserted after reconcile took its snapshot of the index."""

        async def all_records(self, tenant: str | None) -> AsyncIterator[tuple[AuthRecord, bool]]:
            for entry in ():
                yield entry

    late = LateIndex(rows=world.index.rows)
    report = await Reconciler(world.secrets, late, prefix=PREFIX, clock=world.clock).run(
        repair=True, min_age=timedelta(0)
    )
    assert only(report) == (Problem.SECRET_WITHOUT_RECORD, Outcome.RESOLVED)
    assert world.path(record) in world.secrets.paths


async def test_a_roll_forward_that_loses_a_race_changes_nothing(world: World) -> None:
    record = await world.create()
    await world.secrets.write(
        world.path(record), await world.secrets.read(world.path(record)) or {}, cas=1
    )
    world.later()

    class MovedOn(MemoryIndex):
        async def update(self, record: AuthRecord, *, expected_version: int) -> bool:
            return False  # the service updated the record between the snapshot and the repair

    moved = MovedOn(rows=world.index.rows)
    report = await Reconciler(world.secrets, moved, prefix=PREFIX, clock=world.clock).run(
        repair=True
    )
    assert only(report) == (Problem.INDEX_BEHIND_VAULT, Outcome.RESOLVED)
    assert report.exit_code == 0


async def test_the_summary_counts_each_outcome(world: World) -> None:
    orphan = await world.create()
    await world.index.remove("acme", "intg_1", orphan.auth_id)
    ahead = await world.create()
    world.index.rows[("acme", "intg_1", ahead.auth_id)] = (ahead.with_changes(version=9), False)
    world.later()
    lines = (await world.reconcile(repair=True)).lines()
    assert lines[-1] == "2 finding(s): 1 repaired, 1 needs attention"


async def _with_token_document(world: World, record: AuthRecord) -> str:
    """A token document beside `record`'s secret, as the token broker writes it."""
    path = token_path(world.path(record))
    await world.secrets.write(path, TokenState(config="c").to_vault(), cas=0)
    return path


async def test_a_token_document_beside_its_record_is_consistent(world: World) -> None:
    record = await world.create()
    await _with_token_document(world, record)
    world.later()
    report = await world.reconcile(repair=True)
    assert report.findings == []
    assert report.secrets_examined == 2


async def test_a_token_document_without_record_is_destroyed(world: World) -> None:
    record = await world.create()
    path = await _with_token_document(world, record)
    # A delete that crashed after destroying the secret and removing the row: the token
    # document alone is left (or a resolve re-created it while the record was deleted).
    world.secrets.paths.pop(world.path(record))
    await world.index.remove("acme", "intg_1", record.auth_id)
    world.later()
    report = await world.reconcile()
    assert only(report) == (Problem.TOKEN_WITHOUT_RECORD, Outcome.FOUND)
    report = await world.reconcile(repair=True)
    assert only(report) == (Problem.TOKEN_WITHOUT_RECORD, Outcome.REPAIRED)
    assert path not in world.secrets.paths


async def test_repairs_that_remove_a_secret_remove_its_token_document(world: World) -> None:
    unfinished = await world.create()
    orphan = await world.create()
    tokens = [await _with_token_document(world, r) for r in (unfinished, orphan)]
    await world.index.mark_deleting("acme", "intg_1", unfinished.auth_id)
    await world.index.remove("acme", "intg_1", orphan.auth_id)
    world.later()
    report = await world.reconcile(repair=True)
    assert {(f.problem, f.outcome) for f in report.findings} == {
        (Problem.DELETE_UNFINISHED, Outcome.REPAIRED),
        (Problem.SECRET_WITHOUT_RECORD, Outcome.REPAIRED),
    }
    assert world.secrets.paths == {}
    assert all(path in world.secrets.destroyed for path in tokens)
