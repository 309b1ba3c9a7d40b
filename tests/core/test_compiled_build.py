"""The Cython build of the hot path: what is compiled, and the pure-Python fallback.

``setup.py`` compiles :data:`conversions.COMPILED_MODULES` from their unchanged Python source;
``OPENAI_ADS_PURE_PYTHON=1`` makes the package import the ``.py`` source instead. CI builds the
compiled modules (``make test``) and must test them; the pure-Python package must pass the
mapping suite too, since it is what runs wherever the build could not compile.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_openai_ads import conversions

ROOT = Path(__file__).resolve().parents[2]


def test_setup_compiles_exactly_the_packages_list():
    tree = ast.parse((ROOT / "setup.py").read_text())
    assigned = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert assigned["HOT_MODULES"] == conversions.COMPILED_MODULES


def test_make_rebuilds_when_a_compiled_module_changes():
    """``make test`` reinstalls when a compiled module's source is newer: the Makefile lists them all."""
    line = next(
        line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith("COMPILED :=")
    )
    listed = tuple(name.removesuffix(".py") for name in line.split(",", 1)[1].rstrip(")").split())
    assert listed == conversions.COMPILED_MODULES


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="only CI promises a compiled build")
def test_ci_tests_the_compiled_modules():
    assert conversions.compiled_modules() == list(conversions.COMPILED_MODULES)


def _run_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_pure_python_switch_imports_the_sources():
    code = "from airflow_provider_openai_ads import conversions; print(conversions.compiled_modules())"
    assert _run_python(code, OPENAI_ADS_PURE_PYTHON="1").strip() == "[]"


def test_pure_python_package_passes_the_mapping_suite():
    """The whole mapping suite (fast path against general path included) on the .py sources."""
    env = {**os.environ, "OPENAI_ADS_PURE_PYTHON": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/mapping"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout
