"""civic-archive: keep a city's official social-media accounts as public records."""

__version__ = "0.1.0"
SOFTWARE = f"civic-archive/{__version__}"
