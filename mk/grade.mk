# Exercises and grading. Included by the Makefile; PYTHON may be set there.
#   make grade                       grade every notebook in exercises/
#   make grade NB=path/to/02_x.ipynb grade one notebook (or a folder); JSON lands beside each
#   make exercises                   regenerate exercises/ from solutions/
#   make exercises-check             fail if exercises/ is out of date

# The Makefile sets PY to the course's virtualenv python; standalone, use python.
PY ?= python
NB ?= exercises
GRADE_FLAGS ?=

.PHONY: grade exercises exercises-check

grade: $(STAMP)
	$(PY) -m course.grader $(NB) $(GRADE_FLAGS)

exercises: $(STAMP)
	$(PY) -m course.exercises

exercises-check: $(STAMP)
	$(PY) -m course.exercises --check
