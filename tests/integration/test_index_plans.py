"""The index's hot queries run on its indexes (EXPLAIN), on SQLite and PostgreSQL alike.

The benchmark prints the same plans at 1,000,000 rows (benchmarks/vs_vault.py --only scale).
"""

from __future__ import annotations

from vaultauth.index.migrate import upgrade
from vaultauth.index.sql import SqlMetadataIndex, create_index_engine


def test_every_hot_query_is_an_index_search_without_a_sort(index_url: str) -> None:
    engine = create_index_engine(index_url, pool_size=1)
    try:
        upgrade(engine)
        plans = SqlMetadataIndex(engine).driver.query_plans(small_table=True)
    finally:
        engine.dispose()
    assert set(plans) == {"get", "list", "list_after", "due", "due_after", "find_key"}
    for name, plan in plans.items():
        if engine.dialect.name == "sqlite":
            assert "USING INDEX" in plan or "USING PRIMARY KEY" in plan, (name, plan)
            assert "SCAN" not in plan.replace("SEARCH", ""), (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)  # ORDER BY comes from the index
        else:
            assert "Index" in plan, (name, plan)
            assert "Seq Scan" not in plan, (name, plan)
            assert "Sort" not in plan, (name, plan)
    assert "ix_auth_records_listing" in plans["list"]
    assert "ix_auth_records_listing" in plans["list_after"]
    assert "ix_auth_records_due" in plans["due"]
    assert "ix_auth_records_due" in plans["due_after"]
