"""Domain core: conversion events, identity hashing, money, mapping, batching and delivery.

Nothing in this package imports Airflow; it is usable and testable on its own.

The modules of the hot path (:data:`COMPILED_MODULES`) are compiled with Cython when the
package is built (``setup.py``); they are plain Python source either way. With the environment
variable ``OPENAI_ADS_PURE_PYTHON=1`` the build skips the compilation, and at run time the
package imports those modules from their ``.py`` source even where compiled ones exist (for
debugging with Python tracebacks, and for testing the pure-Python build).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

#: the modules on the path from a warehouse row to a serialized event (kept in step with setup.py)
COMPILED_MODULES = ("batching", "fast_path", "identity", "mapping", "money", "values")


class _PythonSources:
    """A meta path finder that loads :data:`COMPILED_MODULES` from their ``.py`` source."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        package, _, module = name.rpartition(".")
        if package != __name__ or module not in COMPILED_MODULES:
            return None
        return importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{module}.py"))


def compiled_modules() -> list[str]:
    """The hot-path modules that run compiled in this process (imports them)."""
    modules = [importlib.import_module(f"{__name__}.{name}") for name in COMPILED_MODULES]
    return [m.__name__.rpartition(".")[2] for m in modules if not (m.__file__ or "").endswith(".py")]


if os.environ.get("OPENAI_ADS_PURE_PYTHON"):
    sys.meta_path.insert(0, _PythonSources)
