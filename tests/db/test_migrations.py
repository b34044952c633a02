"""Migrations are the only schema: they build it, match the models, and go down and up again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from conftest import drop_database, empty_database_url
from learnloop.db import (
    Base,
    _alembic_config,
    current_revisions,
    downgrade,
    head_revisions,
    is_at_head,
    load_models,
    make_engine,
    upgrade,
    upgrade_to_head,
)


@pytest.fixture
def empty_url(database_kind: str, tmp_path: Path) -> Iterator[str]:
    url = empty_database_url(database_kind, tmp_path)
    yield url
    drop_database(url)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_builds_exactly_the_models(empty_url: str) -> None:
    load_models()
    upgrade_to_head(empty_url)
    engine = make_engine(empty_url)
    try:
        assert is_at_head(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
        assert differences == [], "models and migrations disagree; write a migration"
    finally:
        engine.dispose()
    assert _tables(empty_url) == set(Base.metadata.tables)


def test_every_revision_downgrades_and_upgrades_again(empty_url: str) -> None:
    script = ScriptDirectory.from_config(_alembic_config())
    revisions = [revision.revision for revision in script.walk_revisions("base", "heads")]
    revisions.reverse()  # oldest first
    for revision in revisions:
        upgrade(empty_url, revision)
    upgrade_to_head(empty_url)
    engine = make_engine(empty_url)
    try:
        assert current_revisions(engine) == head_revisions()
    finally:
        engine.dispose()
    full = _tables(empty_url)
    for _ in revisions:
        downgrade(empty_url, "-1")
    assert _tables(empty_url) == set()
    engine = make_engine(empty_url)
    try:
        assert current_revisions(engine) == ()
        assert not is_at_head(engine)
    finally:
        engine.dispose()
    upgrade_to_head(empty_url)
    assert _tables(empty_url) == full


def test_migration_files_are_date_stamped() -> None:
    versions = Path(_alembic_config().get_main_option("script_location") or "") / "versions"
    names = sorted(path.name for path in versions.glob("*.py"))
    assert names, "no migrations found"
    for name in names:
        assert name[:16].replace("_", "").replace("-", "")[:12].isdigit(), name
