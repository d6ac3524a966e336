"""Course tooling around the engine: starting JupyterLab (``python -m course.lab``) and friends.

The engine (``engine/``) is what a learner builds; everything that only serves the course lives
here so it never leaks into the engine.
"""
