"""The demo school's process definitions, one YAML file per process (package data).

Each file is exactly what `hall process import` reads and `hall process export` writes.
"""

from __future__ import annotations

import functools
from importlib import resources

from hall.definitions import ProcessSpec, load_yaml


def library_files() -> dict[str, str]:
    """File name → YAML text of every definition in the library, by file name."""
    root = resources.files(__name__)
    return {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in sorted(root.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


@functools.cache
def load_library() -> tuple[ProcessSpec, ...]:
    """Every definition of the library, validated (a broken file raises DefinitionError).

    Parsed once per process: specs are frozen, and the files are package data.
    """
    return tuple(load_yaml(text) for text in library_files().values())
