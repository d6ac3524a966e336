"""`make lab`'s launcher (course.lab) and the notebook helpers it configures: the port it picks,
the environment of the server, kernels and terminals, the pre-save hook, the two budgets and the
progress bars. No browser, no server: see test_lab_terminal.py and test_browser_lab.py."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course import lab, notebook
from course.build_notebook import LANGUAGE_INFO, LEARNER_ENV, environment

REPO = Path(__file__).resolve().parent.parent


# --- the port ---------------------------------------------------------------------------------


def _time_wait_port() -> int:
    """A port whose only socket left is in TIME-WAIT: the side that closes first (here the
    server's accepted socket, on the listening port) keeps it for a minute. The listener sets
    SO_REUSEADDR as Jupyter's (tornado's) does, and the TIME-WAIT socket inherits it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server side closes first: TIME-WAIT on (127.0.0.1, port)
        time.sleep(0.05)
        client.close()
    return port


def test_a_port_with_only_time_wait_sockets_is_free_as_jupyter_binds_it():
    port = _time_wait_port()
    with socket.socket() as plain:  # what the old check did: bind without SO_REUSEADDR
        try:
            plain.bind(("127.0.0.1", port))
            pytest.skip("this kernel lets a plain bind reuse a TIME-WAIT port")
        except OSError as err:
            assert err.errno == errno.EADDRINUSE
    assert lab.port_problem(port) is None
    assert lab.free_port(start=port, tries=1) == (port, [])


def test_a_listening_port_is_taken_and_the_move_is_explained():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        problem = lab.port_problem(port)
        assert problem is not None and "listens on it" in problem
        try:
            chosen, skipped = lab.free_port(start=port, tries=20)
        except RuntimeError:
            pytest.skip("no free port right after a random one")
        assert chosen != port and lab.port_problem(chosen) is None
        assert skipped[0].startswith(f"port {port} is taken: another program listens")


def test_an_explicit_busy_port_is_refused_with_the_reason(capsys):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(SystemExit):
            lab.main(["--port", str(port), "--no-browser"])
    assert f"port {port} cannot be used: another program listens" in capsys.readouterr().err


# --- the environment of server, kernels and terminals -----------------------------------------


@pytest.mark.parametrize("budget, quick", [("learning", "0"), ("test", "1")])
def test_lab_env_sets_the_budget_the_widget_bars_and_the_allocator(budget, quick):
    base = {"PATH": "/usr/bin:/bin", "HOME": "/home/someone"}
    env = lab.lab_env(budget, base=base)
    venv_bin = str(Path(sys.executable).parent)
    assert env["PATH"].split(":")[0] == venv_bin and env["PATH"].endswith("/usr/bin:/bin")
    assert env["DCG_QUICK"] == quick and env["DCG_PROGRESS"] == "widget"
    assert all(env[k] == v for k, v in lab.ALLOCATOR_ENV.items())
    assert env["DCG_VENV_BIN"] == venv_bin
    assert base == {"PATH": "/usr/bin:/bin", "HOME": "/home/someone"}  # not modified


def test_lab_env_keeps_a_users_own_malloc_setting_and_rejects_unknown_budgets():
    own = lab.lab_env(base={"MALLOC_TOP_PAD_": "0"})
    assert own["MALLOC_TOP_PAD_"] == "0" and "MALLOC_MMAP_THRESHOLD_" not in own
    with pytest.raises(ValueError, match="unknown budget 'fast'.*learning"):
        lab.lab_env("fast", base={})


def test_the_makefile_passes_the_budget_and_learning_is_the_default():
    makefile = (REPO / "Makefile").read_text()
    assert "BUDGET ?= learning" in makefile and "-m course.lab --budget $(BUDGET)" in makefile
    assert lab.DEFAULT_BUDGET == "learning"


def test_lab_command_installs_the_save_hook_and_the_terminal_shell():
    argv = lab.lab_command(8888, "t", open_browser=False)
    assert "--ContentsManager.pre_save_hook=course.lab.pre_save" in argv
    terminal = [a for a in argv if a.startswith("--ServerApp.terminado_settings=")]
    assert len(terminal) == 1 and str(lab.TERMINAL_RC) in terminal[0]


def test_the_terminal_rc_puts_the_venv_first_after_the_users_bashrc(tmp_path):
    bash = lab.terminal_command()[0]
    if not bash.endswith("bash"):
        pytest.skip("no bash here")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text('PATH="/opt/conda/bin:$PATH"\n')  # as `conda init` does
    env = lab.lab_env(base={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    out = subprocess.run([bash, "--rcfile", str(lab.TERMINAL_RC), "-i", "-c",
                          'echo "$PATH"; command -v python'],
                         env=env, capture_output=True, text=True, timeout=30)
    path_line, python_line = out.stdout.strip().splitlines()[-2:]
    assert path_line.split(":")[0] == env["DCG_VENV_BIN"], out
    assert Path(python_line).parent == Path(env["DCG_VENV_BIN"]), out


# --- the pre-save hook ------------------------------------------------------------------------


def test_pre_save_writes_language_info_back_as_committed_and_drops_widget_state():
    jupyterlab_info = {"codemirror_mode": {"name": "ipython", "version": 3},
                       "file_extension": ".py", "mimetype": "text/x-python", "name": "python",
                       "nbconvert_exporter": "python", "pygments_lexer": "ipython3",
                       "version": "3.11.7"}
    model = {"type": "notebook", "content": {"metadata": {
        "language_info": jupyterlab_info, "widgets": {"state": {}}, "kernelspec": {"x": 1}}}}
    lab.pre_save(model, path="chapters/01.ipynb", contents_manager=None)
    assert model["content"]["metadata"] == {"language_info": LANGUAGE_INFO,
                                            "kernelspec": {"x": 1}}
    other = {"type": "file", "content": "text"}
    lab.pre_save(other, path="notes.txt")
    assert other == {"type": "file", "content": "text"}


# --- budgets and progress bars ----------------------------------------------------------------


@pytest.mark.parametrize("value, word", [("0", "budget: learning"), ("1", "budget: test"),
                                         (None, "budget: test")])
def test_budget_line_names_the_budget_and_the_way_to_the_other(monkeypatch, value, word):
    if value is None:
        monkeypatch.delenv(notebook.QUICK_ENV, raising=False)
    else:
        monkeypatch.setenv(notebook.QUICK_ENV, value)
    line = notebook.budget_line()
    assert line.startswith(word) and "\n" not in line
    assert ("BUDGET=test" in line) if word.endswith("learning") else ("make lab" in line)


def test_progress_prints_one_line_when_the_loop_ends(monkeypatch, capsys):
    monkeypatch.delenv(notebook.PROGRESS_ENV, raising=False)
    bar = notebook.progress(total=5, desc="training", unit="step")
    for _ in range(5):
        bar.update()
    assert capsys.readouterr().out == ""  # nothing per step
    bar.set_postfix(loss=0.25)
    bar.close()
    bar.close()  # closing twice prints once
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("training: 5/5 steps in ")
    assert out.rstrip().endswith(" s, loss=0.25")
    assert list(notebook.progress(range(3), desc="epochs", unit="epoch")) == [0, 1, 2]
    assert capsys.readouterr().out.startswith("epochs: 3/3 epochs in ")


def test_progress_is_tqdm_autos_widget_in_the_lab(monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setenv(notebook.PROGRESS_ENV, "widget")
    from tqdm.auto import tqdm

    bar = notebook.progress(total=3, desc="training", unit="step")
    try:
        assert isinstance(bar, tqdm) and bar.total == 3 and bar.desc == "training"
    finally:
        bar.close()


def test_committed_outputs_come_from_the_learners_configuration(monkeypatch):
    """course.build_notebook runs kernels with the learning budget and the bundled samples,
    whatever the calling shell has set (make chapters)."""
    monkeypatch.setenv("DCG_DATA", "/somewhere/data")
    monkeypatch.setenv("DCG_QUICK", "1")
    assert LEARNER_ENV["DCG_QUICK"] == "0" and LEARNER_ENV["DCG_DATA"] is None
    import os

    with environment(LEARNER_ENV):
        assert os.environ["DCG_QUICK"] == "0" and "DCG_DATA" not in os.environ
        assert os.environ["DCG_PROGRESS"] == "text"
    assert os.environ["DCG_DATA"] == "/somewhere/data" and os.environ["DCG_QUICK"] == "1"
