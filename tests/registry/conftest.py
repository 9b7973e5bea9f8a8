"""Registry fixtures: one metadata store of each kind, and ``store`` parametrised over all three.

    store_memory    a MemoryStore
    store_sqlite    a SqlStore on a fresh SQLite file in tmp_path
    store_pg        a SqlStore on a fresh PostgreSQL database (created, then dropped)
    store           each of the three in turn
    store_sql_url   the URL of a fresh, not yet opened database: SQLite, then PostgreSQL
    pg_admin        (session) an AUTOCOMMIT engine on the test server; skips where none answers
    pg_url          the URL of a fresh PostgreSQL database for one test

PostgreSQL: ``KEEL_TEST_PG_URL``, else the server that ``scripts/postgres.sh start`` runs. Where
no server answers, those tests are skipped with the reason; ``KEEL_TEST_PG_REQUIRED=1`` fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from keel.data import Preprocessor, TargetEncoder, load_dataset
from keel.data.config import DataConfig
from keel.models import build_model
from keel.models.config import MLPConfig
from keel.predictor import Predictor
from keel.registry._memory_store import MemoryStore
from keel.registry._sql import SqlStore, parse_url

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/keel_test"


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    url = parse_url(os.environ.get("KEEL_TEST_PG_URL") or PG_DEFAULT_URL)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        where = url.render_as_string(hide_password=True)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        message = f"PostgreSQL not reachable at {where} ({reason}): run scripts/postgres.sh start"
        if os.environ.get("KEEL_TEST_PG_REQUIRED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_url(pg_admin: Engine) -> Iterator[str]:
    name = f"keel_t_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield pg_admin.url.set(database=name).render_as_string(hide_password=False)
    with pg_admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def store_memory() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def store_sqlite(tmp_path: Path) -> Iterator[SqlStore]:
    store = SqlStore(f"sqlite:///{tmp_path / 'registry.db'}")
    yield store
    store.close()


@pytest.fixture
def store_pg(pg_url: str) -> Iterator[SqlStore]:
    store = SqlStore(pg_url)
    yield store
    store.close()


@pytest.fixture(params=["memory", "sqlite", "pg"])
def store(request: pytest.FixtureRequest) -> MemoryStore | SqlStore:
    return request.getfixturevalue(f"store_{request.param}")


@pytest.fixture(params=["sqlite", "pg"])
def store_sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return request.getfixturevalue("pg_url")


ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files of a small real predictor (iris, untrained MLP), as a registry stores them."""
    cfg = DataConfig(source="builtin:iris")
    dataset = load_dataset(cfg, base_dir=ROOT)
    pre = Preprocessor.fit(dataset.features, dataset.schema, cfg)
    target = TargetEncoder.fit(dataset.target, dataset.task, dataset.classes)
    model_cfg = MLPConfig(width=8, depth=1)
    model = build_model(model_cfg, pre.input_spec, len(dataset.classes))
    predictor = Predictor.from_parts(
        model, pre, target, task=dataset.task, classes=dataset.classes, model_config=model_cfg
    )
    folder = tmp_path_factory.mktemp("files")
    for name, data in predictor.to_files().items():
        (folder / name).write_bytes(data)
    return folder
