# The rc file of JupyterLab's terminal under `make lab` (course/lab.py starts `bash --rcfile` it).
# First the user's own setup, then the course's virtualenv first on PATH again, so that what the
# notebooks tell you to type (`python -m course.grader exercises/...`) runs the course's Python
# even when ~/.bashrc activates conda or pyenv.
if [ -f "$HOME/.bashrc" ]; then . "$HOME/.bashrc"; fi
if [ -n "${DCG_VENV_BIN:-}" ]; then
  PATH="$DCG_VENV_BIN:$PATH"
  export PATH
  hash -r
fi
