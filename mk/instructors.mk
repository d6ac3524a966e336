# Instructors: exports to nbgrader / otter-grader / Gradescope, class grading. See INSTRUCTORS.md.
#   make nbgrader    OUT=dir  an nbgrader course tree (source/<assignment>/...), default nbgrader/
#   make otter       OUT=dir  otter-assign master notebooks, default otter/
#   make gradescope  OUT=dir  a Gradescope autograder.zip, default gradescope/
#   make class       SUBMISSIONS=dir [CLASS_FLAGS=...]   grade a class (resumable)
#   make instructor-tools     .venv-tools: real nbgrader + otter-grader, apart from the course's
#                             venv (their pins would fight jupyterlab/nbval); the tests use it

TOOLS_VENV  ?= .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
SUBMISSIONS ?= submitted
CLASS_FLAGS ?=

.PHONY: nbgrader otter gradescope class instructor-tools

nbgrader otter gradescope: $(STAMP)
	$(PY) -m course.grader export $@ $(or $(OUT),$@)

class: $(STAMP)
	$(PY) -m course.grader class $(SUBMISSIONS) $(CLASS_FLAGS)

$(TOOLS_STAMP): pyproject.toml
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	@echo "== installing nbgrader and otter-grader into $(TOOLS_VENV)"
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet -e ".[instructor-tools]"
	@touch $(TOOLS_STAMP)

instructor-tools: $(TOOLS_STAMP)
