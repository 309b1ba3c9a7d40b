# One-command entry points. Each creates .venv and installs the package on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint demo bench emulator clean

#: the hot-path modules setup.py compiles with Cython: a change rebuilds them
COMPILED := $(addprefix airflow_provider_openai_ads/conversions/,batching.py fast_path.py identity.py mapping.py money.py values.py)

$(STAMP): pyproject.toml setup.py $(COMPILED)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet --reinstall-package airflow-provider-openai-ads -e ".[test,bench]"
	# bytecode for every installed module, as pip writes it: uv leaves it to the first import, and
	# with PYTHONDONTWRITEBYTECODE set every new process (each task, each test subprocess) would
	# compile Airflow from source again (importing it: 2.6 s without, 1.2 s with). As pip does, a
	# file that does not compile is skipped (facebook-business has one that uses `or` as a name).
	$(BIN)/python -c 'import compileall, sysconfig; compileall.compile_dir(sysconfig.get_paths()["purelib"], quiet=2, workers=0)'
	touch $(STAMP)

test: $(STAMP)  ## lint, then the whole test suite
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: $(STAMP)  ## sample warehouse -> emulator -> daily example DAG, end to end
	$(BIN)/python -m demo

bench: $(STAMP)  ## hot path, end to end, and failure-cost benchmarks
	$(BIN)/python -m benchmarks

emulator: $(STAMP)  ## run the local Conversions API emulator on port 8750
	$(BIN)/python -m airflow_provider_openai_ads.emulator --port 8750

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo .bench
