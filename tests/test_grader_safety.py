"""Issue 13: grading a class's notebooks safely. Each class of attack has its own notebook in
tests/fixtures/grader/attacks.py, graded inside the bubblewrap sandbox; each must gain 0
points, change nothing outside its run, leave no process, keep the grader's memory within
GRADER_MAX_RSS_MB, and still get a report. The sandbox itself is probed directly too.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course.grader import integrity, isolation, sandbox
from course.grader.runner import INTEGRITY, Options, grade_notebook
from course.grader.specs import CHAPTERS, TASKS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "grader"
sys.path.insert(0, str(FIXTURES))
from attacks import MARK  # noqa: E402

OPTIONS = Options(cell_timeout=15, total_timeout=90, task_timeout=8, seed=99)
GRADER_MAX_RSS_MB = 600  # the grader process, whatever a notebook's kernel sends it
MAX_REPORT_BYTES = 64_000

pytestmark = pytest.mark.skipif(isolation.available() is not None,
                                reason=f"no sandbox here: {isolation.available()}")


def leftovers() -> list[str]:
    """Processes and host files an attack notebook left."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if MARK.encode() in cmdline.read_bytes():
                found.append(str(cmdline))
        except OSError:
            pass
    return found + [str(p) for p in Path("/tmp").glob(f"{MARK}*")] + [
        str(p) for p in (ROOT / "exercises", FIXTURES) for p in p.glob(f"*{MARK}*")]


@functools.cache
def graded(name):
    before = sorted(p.name for p in FIXTURES.iterdir())
    report = grade_notebook(FIXTURES / f"{name}.ipynb", OPTIONS)
    assert sorted(p.name for p in FIXTURES.iterdir()) == before  # nothing written beside it
    return report


def events(report) -> str:
    return "\n".join(str(e) for e in report.run.events)


ATTACKS = {  # fixture: status of each task (a pass is a task the notebook really solved)
    "02_attack_detours": ["forbidden"] * 3,
    "02_attack_detours_more": ["forbidden"] * 3,
    "02_attack_smuggle": ["todo"] * 3,
    "02_attack_host": ["pass"] * 3,
    "02_attack_contaminate": ["todo"] * 3,
    "02_attack_resources": ["pass"] * 3,
    "02_attack_reports": ["error", "pass", "pass"],
    "02_attack_answers": ["fail", "error", "timeout"],
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gains_nothing_and_leaves_nothing(name):
    report = graded(name)
    assert [t.status for t in report.tasks] == ATTACKS[name], [t.as_dict() for t in
                                                               report.tasks]
    assert report.score == sum(t.max_points for t in report.tasks if t.status == "pass")
    assert leftovers() == []
    assert integrity.check() == []  # course and venv as at start-up
    from course.grader.report import as_json

    assert len(json.dumps(as_json(report))) < MAX_REPORT_BYTES


def test_detours_are_named():
    hints = " ".join(t.hint for n in ("02_attack_detours", "02_attack_detours_more")
                     for t in graded(n).tasks)
    for detour in ("`.modules`", "`engine` may only be used", "_create_fn", "`.attrgetter`",
                   "`allow_pickle`"):
        assert detour in hints


def test_kernel_sees_no_secrets_and_runs_nothing_as_the_grader(monkeypatch):
    monkeypatch.setenv("DCG_GRADER_SECRET", "s3cr3t-token")
    report = grade_notebook(FIXTURES / "02_attack_host.ipynb", OPTIONS)
    text = events(report)
    assert "ENV " in text and "s3cr3t-token" not in text and "HOME=/sandbox/work" in text
    assert "FOUND []" in text  # no solutions, grader code, references or private files
    assert report.score == 7 and leftovers() == []


def test_contamination_is_refused():
    text = events(graded("02_attack_contaminate"))
    assert "WROTE []" in text  # no .pth, .pyc, source edit or FIFO got through


def test_resources_are_limited():
    text = events(graded("02_attack_resources"))
    assert "MemoryError" in text  # 3 GB balloon: the kernel's address space is 2 GB
    assert "File too large" in text or "No space" in text  # 256 MB: files are capped at 64 MB


def test_answers_are_hostile_bytes():
    for raw in (b"[" * 100_000 + b"]" * 100_000, b'{"cases": [' + b"9" * 5000 + b"]}",
                json.dumps({"cases": [[[[0]]]] * 10}).replace("0", "[" * 40 + "]" * 40).encode(),
                b"\xff\xfe", b'{"cases": NaN'):
        with pytest.raises(ValueError):
            sandbox.parse(raw)
    assert sandbox.parse(b'{"cases": [{"out": [1, 2.5, {"a": null}]}]}')["cases"]


def run_source(source, **limits):
    task = TASKS["ch2.backward"]
    cases = task.cases(np.random.default_rng(0))
    return sandbox.run_task(task.id, task.names, "", source, cases, sandbox.Limits(**limits))


def test_scoring_sandbox_path_and_pickle():
    answer = run_source("import sys\nraise RuntimeError(repr(sys.path))")
    path = eval(answer.data["load_error"]["message"].split(" (line")[0])  # noqa: S307
    assert path[0] == isolation.SCRATCH + "/lib"  # the engine snapshot, then the stdlib ...
    site = [i for i, p in enumerate(path) if "site-packages" in p]
    stdlib = [i for i, p in enumerate(path) if p.endswith("python3." + str(sys.version_info[1]))]
    assert site and stdlib and max(stdlib) < min(site)  # ... and site-packages last
    payload = 'b"cos\\nsystem\\n."'  # unpickled, it would be os.system
    answer = run_source(f"import pickle\npickle.loads({payload})")
    assert answer.data["load_error"]["error"] == "PermissionError"
    answer = run_source(f"import numpy as np\nnp.frombuffer({payload}, np.uint8).tofile('p')\n"
                        "np.load('p', allow_pickle=True)")
    assert answer.data["load_error"]["error"] == "UnpicklingError"  # numpy wraps our refusal


def test_scoring_sandbox_sees_no_course():
    paths = [str(ROOT / "solutions"), str(ROOT / "course"), str(ROOT / "engine"), "/course",
             str(Path(sys.prefix) / "bin")]
    answer = run_source(f"import os\nraise RuntimeError(repr([os.path.exists(p) for p in "
                        f"{paths!r}] + [os.getuid()]))")
    seen = eval(answer.data["load_error"]["message"].split(" (line")[0])  # noqa: S307
    assert seen[:-1] == [False, False, False, False, True] and seen[-1] != os.getuid()


def test_scoring_sandbox_leaves_no_process_and_no_file():
    answer = run_source(f"import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', "
                        f"'import time; time.sleep(60)  # {MARK}'], start_new_session=True)\n"
                        f"open('/tmp/{MARK}-x', 'w').write('x')\n")
    assert answer.data["missing"] == ["backward"]
    time.sleep(0.5)
    assert leftovers() == []


PROBE = """
import json, os, socket, sys
seen = {"uid": os.getuid(), "env": sorted(os.environ), "pids": sorted(os.listdir("/proc"))}
for path in sys.argv[1:]:
    seen[path] = os.path.exists(path)
for path in ("/course/engine/x.py", sys.path[-1] + "/x.pth", "/sandbox/work/x", "/tmp/x"):
    try:
        open(path, "w").close()
        seen["wrote " + path] = True
    except OSError:
        seen["wrote " + path] = False
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    seen["net"] = True
except OSError:
    seen["net"] = False
try:
    os.kill(int(os.environ["GRADER_PID"]), 0)
    seen["signal"] = True
except OSError:
    seen["signal"] = False
print(json.dumps(seen))
"""


def test_the_sandbox_itself(tmp_path):
    secret = Path("/tmp") / f"{MARK}-host-file"
    secret.write_text("host")
    try:
        hidden = [str(ROOT / "solutions"), str(ROOT / "course/grader/runner.py"), str(secret),
                  "/course/course/grader/engine_refs.py", "/course/solutions",
                  str(ROOT / "README.md")]
        cmd = isolation.command([sys.executable, "-c", PROBE, *hidden], isolation.Jail(),
                                uid=isolation.new_uid(), course_view=True,
                                env={"GRADER_PID": str(os.getpid())})
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        secret.unlink()
    seen = json.loads(done.stdout)
    assert seen["uid"] != os.getuid() and set(seen["env"]) <= {"GRADER_PID", "PWD", "LC_CTYPE"}
    assert not any(seen[p] for p in hidden)
    assert seen == {**seen, "wrote /course/engine/x.py": False, "net": False, "signal": False,
                    "wrote /sandbox/work/x": True, "wrote /tmp/x": True}
    assert not [k for k in seen if k.endswith(".pth") and seen[k]]
    assert len([p for p in seen["pids"] if p.isdigit()]) <= 3  # its own PID namespace


def test_grader_memory_reports_and_processes_under_floods(tmp_path):
    """The leftovers fixture floods the grader (widget state, one 300 MB stream message,
    thousands of error events) and leaves setsid daemons; the CLI's own peak RSS is measured."""
    shutil.copy(FIXTURES / "02_attack_leftovers.ipynb", tmp_path)
    out = tmp_path / "grades.json"
    wrapper = ("import resource, sys\nfrom course.grader.__main__ import main\ncode = main()\n"
               "print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
               "file=sys.stderr)\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", wrapper, str(tmp_path), "--json", str(out),
                           "--cell-timeout", "10", "--timeout", "90", "--task-timeout", "8"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    rss_mb = int(done.stderr.split("MAXRSS")[1].split()[0]) / 1024
    assert rss_mb < GRADER_MAX_RSS_MB, rss_mb
    report = json.loads(out.read_text())["notebooks"][0]
    assert report["score"] == 7 and out.stat().st_size < MAX_REPORT_BYTES
    assert report["run"]["output_bytes"] > 100_000_000  # the floods were counted, not kept
    assert any("more events not kept" in e for e in report["run"]["events"])
    assert leftovers() == []


def test_forged_reports_symlinks_fifos_and_escapes(tmp_path):
    shutil.copy(FIXTURES / "02_attack_reports.ipynb", tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "02_attack_reports.grade.json").symlink_to(victim)
    private = tmp_path / "private.txt"
    private.write_text('{"cells": "PRIVATE-CONTENT')
    (tmp_path / "02_link.ipynb").symlink_to(private)
    os.mkfifo(tmp_path / "02_fifo.ipynb")
    done = subprocess.run([sys.executable, "-m", "course.grader", str(tmp_path),
                           "--cell-timeout", "20", "--task-timeout", "8"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "PRIVATE-CONTENT" not in done.stdout and "symbolic link" in done.stdout
    assert "not a regular file" in done.stdout
    assert victim.read_text() == "keep"  # the planted symlink was replaced, not followed
    time.sleep(2)  # a daemon left by the kernel would rewrite the report now
    data = json.loads((tmp_path / "02_attack_reports.grade.json").read_text())
    assert data["score"] == 5 and "forged" not in data and leftovers() == []


@pytest.mark.parametrize("make", ["huge_cell", "deep_ast", "deep_json"])
def test_monster_notebooks_get_a_report(tmp_path, make):
    path = tmp_path / "02_monster.ipynb"
    if make == "deep_json":
        path.write_text('{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}")
    else:
        source = ("x = '" + "y" * 19_000_000 + "'") if make == "huge_cell" else \
            ("x = " + "(" * 100_000 + "1" + ")" * 100_000)
        nb = {"cells": [{"cell_type": "code", "source": source, "metadata": {
            "grader": {"task": t}}, "outputs": [], "execution_count": None, "id": f"c{i}"}
            for i, t in enumerate(("ch2.chain_rule", "ch2.backward", "ch2.numerical_grad"))],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        path.write_text(json.dumps(nb))
    report = grade_notebook(path, Options(execute=False, seed=1))
    assert [t.task for t in report.tasks] == [t.id for t in CHAPTERS["ch2"].tasks]
    assert report.score == 0 and all(t.status == "error" and t.hint for t in report.tasks)


def test_a_changed_venv_fails_the_run_loudly(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    monkeypatch.setattr(isolation, "python_paths", lambda: (str(site),))
    monkeypatch.setattr(integrity, "_BASELINE", {})
    monkeypatch.setattr(integrity, "_LAST_CLEAN", [-1e9])
    assert integrity.check() == []
    (site / "evil.pth").write_text("import os\n")
    assert integrity.check() == [str(site / "evil.pth")]
    report = grade_notebook(FIXTURES / "02_wrong_types.ipynb", Options(execute=False))
    assert report.score == 0 and INTEGRITY in report.problems[0]
    assert {t.status for t in report.tasks} == {"error"}


def test_without_bwrap_the_grader_refuses(tmp_path, monkeypatch):
    monkeypatch.setattr(isolation, "available", lambda: "the isolation tool bwrap is missing")
    report = grade_notebook(FIXTURES / "02_wrong_types.ipynb", Options(execute=False))
    assert report.score == 0 and "bwrap is missing" in report.problems[0]
    assert {t.status for t in report.tasks} == {"error"}
    env = dict(os.environ, PATH=str(tmp_path))  # no bwrap on PATH
    done = subprocess.run([sys.executable, "-m", "course.grader", str(FIXTURES)], env=env,
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "refusing to grade" in done.stderr
    done = subprocess.run([sys.executable, "-m", "course.grader", str(FIXTURES),
                           "--unsafe-no-isolation"], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "class grading always runs in the sandbox" in done.stderr
    done = subprocess.run([sys.executable, "-m", "course.grader", "--unsafe-no-isolation",
                           str(FIXTURES / "02_wrong_types.ipynb"), "--no-execute", "--no-json"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and "UNSAFE" in done.stderr and "0/7" in done.stdout
