"""Shared fixtures: the fake platforms, the SeaweedFS S3 server (tests/seaweed.py), an archive folder."""
from __future__ import annotations

import pytest

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
