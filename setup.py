"""Build hook: compiles the row-mapping hot path with Cython when it can, else stays pure Python.

The compiled modules are the same Python source (no Cython-only syntax), so behaviour is
identical; they only run faster. ``OPENAI_ADS_PURE_PYTHON=1`` skips the compilation, and a
module that fails to compile is left as Python (``optional=True``).
"""

import os

from setuptools import Extension, setup

#: the modules on the path from a warehouse row to a serialized event (the package's
#: ``conversions.COMPILED_MODULES``, which a test keeps equal)
HOT_MODULES = ("batching", "fast_path", "identity", "mapping", "money", "values")


def extensions() -> list[Extension]:
    if os.environ.get("OPENAI_ADS_PURE_PYTHON"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    modules = [
        Extension(
            f"airflow_provider_openai_ads.conversions.{name}",
            [f"airflow_provider_openai_ads/conversions/{name}.py"],
            optional=True,
        )
        for name in HOT_MODULES
    ]
    return cythonize(
        modules,
        build_dir="build/cython",
        compiler_directives={"language_level": 3},
        nthreads=os.cpu_count() or 1,
        quiet=True,
    )


setup(ext_modules=extensions())
