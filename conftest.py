"""Repository-level pytest configuration: keep the module runner out of doctest collection."""

collect_ignore = ["qdiff/__main__.py"]
