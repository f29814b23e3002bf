"""Shared fixtures: the fake platforms, the SeaweedFS S3 server (tests/seaweed.py), an archive folder."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Airflow reads its configuration when first imported: point it at a throw-away home and SQLite database
# before any test (or the code under test) imports it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="civic-archive-airflow-")
os.environ.update({
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parents[1] / "dags"),
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "CIVIC_ARCHIVE_RETRY_DELAY_SECONDS": "1",  # dag.test() waits out retry delays: keep failures quick
})

pytest_plugins = ["seaweed"]


@pytest.fixture
def fakes():
    from civic_archive.fakes import FakePlatforms, World

    with FakePlatforms(World.demo()) as running:
        yield running


@pytest.fixture
def archive_dir(tmp_path):
    path = tmp_path / "archive"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database (SQLite in a temporary AIRFLOW_HOME)."""
    from airflow.utils import db

    db.initdb()
    return _AIRFLOW_HOME
