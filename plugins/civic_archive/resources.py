"""Finding the project's data files (JSON Schemas, retention schedules) in a checkout or an installed wheel."""
from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`schemas` or `retention`: the wheel carries them under civic_archive/_data, a checkout at its root."""
    for candidate in (_HERE / "_data" / name, _HERE.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder of civic-archive")
