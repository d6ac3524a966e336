"""What the notebooks tell a learner to type works in JupyterLab's own terminal.

Starts the `make lab` server (course.lab's argv and environment) on a mirror of the repository,
opens a terminal through Jupyter's terminals API (the one JupyterLab's Terminal tab uses), types
the grading command printed in an exercise header, and reads what the terminal prints. Before the
launcher set the terminal's shell and PATH, this printed ``ModuleNotFoundError: nbformat``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from browser_support import mirror, stop, wait_for_server

from course import lab

REPO = Path(__file__).resolve().parent.parent
EXERCISE = REPO / "exercises" / "01_computation_graphs.ipynb"
DONE = "__dcg_terminal_done__"
COMMAND_S = 120


def printed_grading_command(notebook: Path) -> str:
    text = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"]
                   if c["cell_type"] == "markdown")
    match = re.search(r"python -m course\.grader \S+\.ipynb", text)
    assert match, f"{notebook.name} prints no grading command"
    return match.group(0)


async def run_in_terminal(port: int, token: str, cwd: Path, line: str) -> str:
    from tornado.websocket import websocket_connect

    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/terminals", method="POST",
                                     headers={"Authorization": f"token {token}",
                                              "Content-Type": "application/json"},
                                     data=json.dumps({"cwd": str(cwd)}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        name = json.loads(response.read())["name"]
    ws = await websocket_connect(f"ws://127.0.0.1:{port}/terminals/websocket/{name}"
                                 f"?token={token}")
    await ws.write_message(json.dumps(["stdin", f"{line}; echo {DONE} $?\r"]))
    out, deadline = "", time.monotonic() + COMMAND_S
    while time.monotonic() < deadline:
        message = await asyncio.wait_for(ws.read_message(), timeout=deadline - time.monotonic())
        if message is None:
            break
        kind, *payload = json.loads(message)
        if kind == "stdout":
            out += payload[0]
            if re.search(rf"{DONE} \d+", out.split(line)[-1]):
                break
    ws.close()
    return out


def test_the_printed_grading_command_runs_in_the_labs_terminal(tmp_path):
    command = printed_grading_command(EXERCISE)
    root = tmp_path / "root"
    rel = mirror([EXERCISE], root)[0]  # the grade JSON lands in the copy, not the repo
    env = lab.lab_env("test", base=dict(
        os.environ,
        # A login profile or ~/.bashrc that puts another python first, as conda or a distro's
        # /etc/profile does: the terminal must still run the course's python.
        PATH="/usr/bin:/bin", HOME=str(tmp_path / "home"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "rt"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
    ))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".bashrc").write_text('PATH="/usr/bin:$PATH"\n')
    port, token = lab.free_port(start=18900)[0], os.urandom(16).hex()
    log = tmp_path / "jupyterlab.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(lab.lab_command(port, token, open_browser=False, root_dir=root),
                                cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            wait_for_server(proc, f"http://127.0.0.1:{port}/api/status?token={token}", log)
            out = asyncio.run(run_in_terminal(port, token, root, f"command -v python; {command}"))
        finally:
            stop(proc)
    tail = out[-3000:]
    assert "ModuleNotFoundError" not in out and "command not found" not in out, tail
    assert re.search(rf"{DONE} [01]\b", out), f"the grader did not finish (exit 0 or 1):\n{tail}"
    assert f"{Path(env['DCG_VENV_BIN']) / 'python'}" in out, tail  # the course's python
    assert rel.as_posix() in out or "task" in out.lower(), tail  # the grader's report
    assert (root / rel).with_suffix(".grade.json").exists(), "the grader wrote no report"
    assert not EXERCISE.with_suffix(".grade.json").exists(), "the test wrote into the repository"
