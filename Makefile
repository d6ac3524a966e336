# Dynamic Computation Graphs from Scratch — every target installs what it needs on first use.
#   make lab     open the course in JupyterLab (learning budget; make lab BUDGET=test: quick)
#   make test    run every test: lint, unit + browser tests, the chapters (nbval), the solutions
#   make bench   engine vs PyTorch timings (see BENCHMARKS.md)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lab test lint bench chapters install system-deps browser-deps clean gpu-check
.DEFAULT_GOAL := help

help:
	@sed -n '2,4p' Makefile

# --- installation --------------------------------------------------------------------------
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "== creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "== installing the course into $(VENV) (torch==2.13.0 CPU wheel, jupyterlab, nbval, ...)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[course,test]"
	@touch $(STAMP)

install: $(STAMP) system-deps

system-deps:
	@scripts/system-deps.sh graphviz
	@scripts/system-deps.sh cjk-fonts
	@scripts/system-deps.sh bubblewrap

browser-deps:
	@scripts/system-deps.sh chromium

# --- the two commands of the README -----------------------------------------------------------
# BUDGET=learning (default): the chapters' real training runs; BUDGET=test: the tests' quick runs.
BUDGET ?= learning
lab: install
	$(PY) -m course.lab --budget $(BUDGET)

test: install browser-deps instructor-tools
	@scripts/test.sh $(PY)

# --- the rest -------------------------------------------------------------------------------
lint: $(STAMP)
	$(PY) -m ruff check .

bench: install
	$(PY) -m bench $(BENCH)

# On a GPU machine (CuPy installed: pip install -e ".[gpu]"): the engine's parity tests on CUDA,
# its CNN steps against torch CUDA, then every chapter's CUDA cross-checks. Report: gpu-report/.
# Installs nothing (GPU machines are often offline): .venv's Python if there is one, else python3.
GPU_PY = $(if $(wildcard $(PY)),$(PY),$(PYTHON))
gpu-check:
	$(GPU_PY) scripts/gpu_check.py --out gpu-report $(GPU_CHECK)

# Re-run every chapter in place (after an engine change) as a fresh clone runs it: the learning
# budget, the bundled samples (DCG_DATA unset), one BLAS thread (course.build_notebook.LEARNER_ENV).
chapters: install
	$(PY) -m course.build_notebook chapters/*.ipynb

clean:
	rm -rf $(VENV) $(TOOLS_VENV) *.egg-info .pytest_cache .ruff_cache .hypothesis

include mk/grade.mk
include mk/instructors.mk
