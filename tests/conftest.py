"""Shared test setup.

Browser tests (marker ``browser``) need the Debian ``chromium`` binary and the ``playwright``
Python package. ``make test`` installs both, so there they always run; they are skipped, with the
reason printed, only where one of the two is missing (a machine set up by hand, say).
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

# Plots in tests draw off screen; set before anything imports matplotlib.
os.environ.setdefault("MPLBACKEND", "Agg")

CHROMIUM = Path("/usr/bin/chromium")


def browser_missing() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        hint = "apt-get install -y chromium" if shutil.which("apt-get") else "install Chromium"
        return f"{CHROMIUM} not found ({hint}; `make test` does this when run as root)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


def pytest_collection_modifyitems(config, items):
    device = config.getoption("--engine-device", default="cpu")
    if device != "cpu":
        on_host = pytest.mark.skip(reason=f"cpu_only: numpy arrays on purpose, not on {device}")
        for item in items:
            if "cpu_only" in item.keywords:
                item.add_marker(on_host)
    reason = browser_missing()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


# --- the device the engine's tensors are made on (issue 17) ---------------------------------
def pytest_addoption(parser):
    parser.addoption(
        "--engine-device", default="cpu",
        help="make the engine's tensors on this device: cpu (default), strict (the CPU stand-in "
             "that behaves like CuPy: scripts/test.sh runs the parity tests a second time on "
             "it) or cuda (CuPy on a GPU: scripts/gpu_parity.py)")


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: checks host (numpy) arrays themselves; "
                                       "skipped when --engine-device is not cpu")
    device = config.getoption("--engine-device", default="cpu")
    if device != "cpu":
        import engine

        engine.set_default_device(device)
