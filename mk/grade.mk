# Exercises and grading. Included by the Makefile; PYTHON may be set there.
#   make grade                       grade every notebook in exercises/
#   make grade NB=path/to/02_x.ipynb grade one notebook (or a folder); JSON lands beside each
#   make exercises                   regenerate exercises/ from solutions/
#   make exercises-check             fail if exercises/ is out of date

PYTHON ?= python
NB ?= exercises
GRADE_FLAGS ?=

.PHONY: grade exercises exercises-check

grade:
	$(PYTHON) -m course.grader $(NB) $(GRADE_FLAGS)

exercises:
	$(PYTHON) -m course.exercises

exercises-check:
	$(PYTHON) -m course.exercises --check
