# Two commands for a newcomer: `make demo` (set up + run the synthetic demo) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0

.PHONY: setup demo test lint bench clean

$(BIN)/medseg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, from its CPU wheel where available, so no multi-GB CUDA build is pulled in by a dependency
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -e ".[dev,serve]"
	touch $(BIN)/medseg

setup: $(BIN)/medseg

demo: setup
	$(BIN)/medseg demo --out demo_out --overwrite

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

bench: setup  # speed side by side with MONAI and ONNX Runtime -> BENCHMARKS.md (about 15 min on 2 cores)
	$(BIN)/python -m bench --out BENCHMARKS.md

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) demo_out .pytest_cache
