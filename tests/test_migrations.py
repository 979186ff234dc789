"""Upgrades keep data: a database built at the oldest migration gets a row in every table as the table
appears, is migrated one step at a time to head with every row checked after each step, and then every
migration's downgrade is run one step at a time back to nothing, with what remains checked after each
(SQLite and PostgreSQL). A final upgrade proves the downgrades left a schema the migrations accept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table, inspect, select, text
from sqlalchemy import types as sqltypes

from vigil.store.db import create_db_engine, current_revision, downgrade_schema, migration_revisions, upgrade_schema

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 123000)
BIG_ID = 1_000_000  # above any sequence value the triggers' own rows take
# values the tables' CHECK constraints accept (every other column gets a value of its type)
ALLOWED: dict[str, Any] = {
    "status": "active",
    "role": "admin",
    "kind": "session",
    "decision": "confirmed",
    "latitude": 51.5,
    "longitude": -0.12,
    "analysis_fps": 5.0,
}
KIND_BY_TABLE = {"media_blobs": "photos", "notify_endpoints": "webhook", "outbox": "webhook"}


def _value(table: Table, column: Any, parents: dict[str, dict[str, Any]]) -> Any:
    for fk in column.foreign_keys:
        parent = fk.column.table.name
        if parent == table.name or parent not in parents:
            return None if column.nullable else pytest.fail(f"{table.name}.{column.name}: no parent row")
        return parents[parent][fk.column.name]
    name = column.name
    if name == "kind" and table.name in KIND_BY_TABLE:
        return KIND_BY_TABLE[table.name]
    if table.name in ("alerts", "outbox") and name == "status":
        return "pending"
    if name in ALLOWED:
        return ALLOWED[name]
    kind = column.type
    if isinstance(kind, sqltypes.Boolean):
        return True
    if isinstance(kind, sqltypes.Integer):
        return BIG_ID if column.primary_key else 3
    if isinstance(kind, sqltypes.Float | sqltypes.Numeric):
        return 0.5
    if isinstance(kind, sqltypes.DateTime):
        return WHEN
    if isinstance(kind, sqltypes.Date):
        return WHEN.date()
    if isinstance(kind, sqltypes.JSON):
        return {"kept": [1, 2]}
    if isinstance(kind, sqltypes.LargeBinary):
        return b"\x00\x01vigil"
    if isinstance(kind, sqltypes.String):
        length = kind.length or 40
        return f"{table.name[:6]}-{name}"[:length]
    pytest.fail(f"no test value for {table.name}.{name} ({kind!r})")


def _normal(value: Any) -> Any:
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] in " T":
        try:  # SQLite may hand a datetime back as text where the reflected type is not DATETIME
            return _normal(dt.datetime.fromisoformat(value))
        except ValueError:
            return value
    return value


def _tables(engine: Engine) -> dict[str, Table]:
    meta = MetaData()
    meta.reflect(engine)
    return {t.name: t for t in meta.sorted_tables if t.name != "alembic_version"}


def _fill_new_tables(engine: Engine, rows: dict[str, dict[str, Any]]) -> None:
    """A row in every table that has none of ours yet (parents before children)."""
    for name, table in _tables(engine).items():
        if name in rows:
            continue
        values = {c.name: _value(table, c, rows) for c in table.columns}
        with engine.begin() as connection:
            connection.execute(table.insert().values(**values))
        rows[name] = values


def _check(engine: Engine, rows: dict[str, dict[str, Any]], step: str) -> None:
    """Every row of ours in a table that still exists holds the values it was given (columns that exist)."""
    tables = _tables(engine)
    with engine.connect() as connection:
        for name, values in rows.items():
            if name not in tables:
                continue
            table = tables[name]
            keys = [c for c in table.primary_key.columns]
            assert keys, f"{name} has no primary key"
            found = (
                connection.execute(select(table).where(*(k == values[k.name] for k in keys))).mappings().one_or_none()
            )
            assert found is not None, f"after {step}: our row of {name} is gone"
            for column in table.columns:
                if column.name in values:
                    assert _normal(found[column.name]) == _normal(values[column.name]), (
                        f"after {step}: {name}.{column.name} is {found[column.name]!r}, was {values[column.name]!r}"
                    )


def test_every_migration_up_step_by_step_with_data_and_every_downgrade(database_url: str) -> None:
    engine = create_db_engine(database_url)
    if engine.dialect.name == "postgresql":
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _utc(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")

    revisions = migration_revisions()
    rows: dict[str, dict[str, Any]] = {}
    try:
        for revision in revisions:
            upgrade_schema(engine, revision)
            with engine.connect() as connection:
                assert current_revision(connection) == revision
            _check(engine, rows, f"upgrade to {revision}")
            _fill_new_tables(engine, rows)
        assert set(rows) == set(_tables(engine)), "a table at head got no row"

        for previous in [*reversed(revisions[:-1]), "base"]:
            downgrade_schema(engine, previous)
            with engine.connect() as connection:
                assert current_revision(connection) == (None if previous == "base" else previous)
            _check(engine, rows, f"downgrade to {previous}")
        with engine.connect() as connection:
            assert [n for n in inspect(connection).get_table_names() if n != "alembic_version"] == []

        upgrade_schema(engine)  # what the downgrades left is a schema the migrations build on again
        with engine.connect() as connection:
            assert current_revision(connection) == revisions[-1]
            assert connection.execute(text("SELECT count(*) FROM categories")).scalar()  # seeded again
    finally:
        engine.dispose()
