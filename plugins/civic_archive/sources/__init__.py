"""One module per platform, each a `Source` (see base.py)."""
from __future__ import annotations

import importlib

from civic_archive.sources.base import ApiError, Invalid, Source, TokenExpired

_CONNECTORS = {
    "facebook": ("civic_archive.sources.facebook", "FacebookSource"),
    "instagram": ("civic_archive.sources.instagram", "InstagramSource"),
    "x": ("civic_archive.sources.x", "XSource"),
    "youtube": ("civic_archive.sources.youtube", "YouTubeSource"),
}


def supported_platforms() -> list[str]:
    return sorted(_CONNECTORS)


def source_class(platform: str) -> type[Source]:
    try:
        module, name = _CONNECTORS[platform]
    except KeyError:
        raise ValueError(f"no connector for platform {platform!r}") from None
    return getattr(importlib.import_module(module), name)


__all__ = ["ApiError", "Invalid", "Source", "TokenExpired", "source_class", "supported_platforms"]
