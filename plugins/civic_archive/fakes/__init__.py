"""Faithful fake platform APIs (Facebook Pages, Instagram, X v2, YouTube Data v3) served on loopback.

    from civic_archive.fakes import World, FakePlatforms
    world = World.demo()
    with FakePlatforms(world) as fakes:
        config, env = fakes.city_config(archive="file:///tmp/archive")

Behaviour follows /work/shared/reference/platform-apis.md; see each platform module.
"""

from .server import FakePlatforms, Faults
from .world import Author, Item, Media, World

__all__ = ["World", "FakePlatforms", "Faults", "Item", "Media", "Author"]
