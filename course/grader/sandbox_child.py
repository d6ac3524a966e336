"""The sandboxed process: run one task cell, probe it, write the results as JSON.

Started by ``sandbox.py`` as ``python -I -S -c <this source>`` inside bubblewrap, with resource
limits already set, a clean environment, and ``sys.path`` holding a copy of the engine taken
before any notebook ran, then the standard library, then site-packages (for numpy).
It reads one JSON job on stdin and writes one JSON answer to the file on its stdout. Nothing
here judges: the answer is plain data, compared later in the grader's own process.
"""

import io
import json
import os
import sys
import traceback


class CappedText(io.TextIOBase):
    """stdout/stderr for the task code: keeps the first few kilobytes, drops the rest."""

    def __init__(self, limit=4000):
        self.parts, self.size, self.limit = [], 0, limit

    def writable(self):
        return True

    def write(self, text):
        if self.size < self.limit:
            self.parts.append(str(text)[: self.limit - self.size])
        self.size += len(text)
        return len(text)


def error_of(err):
    tb = traceback.extract_tb(err.__traceback__)
    where = next((f"line {f.lineno} of your task cell" for f in reversed(tb)
                  if f.filename == "<task cell>"), None)
    message = str(err)[:500] + (f" ({where})" if where else "")
    return {"error": type(err).__name__, "message": message}


def no_pickle():
    """Nothing here is ever unpickled: np.load(..., allow_pickle=True) of a crafted file and
    pickle.loads of a payload fail instead of running code the task cell's checks never saw."""
    import pickle

    def refused(*args, **kwargs):
        raise PermissionError("unpickling is not allowed while grading")

    class RefusedUnpickler:  # a class, so modules that subclass Unpickler still import
        __init__ = load = refused

    for module in (pickle, sys.modules.get("_pickle")):
        if module is None:
            continue
        for name in ("load", "loads"):
            if hasattr(module, name):
                setattr(module, name, refused)
        if hasattr(module, "Unpickler"):
            module.Unpickler = RefusedUnpickler
    for name in ("_pickle", "pickle", "copyreg", "shelve", "marshal"):
        sys.modules.setdefault(name, None)


def main():
    job = json.loads(sys.stdin.read())
    results_fd = os.dup(1)  # the answer goes here; fds 1 and 2 now lead nowhere
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = CappedText()
    sys.path[:0] = job["path"]  # the engine snapshot only, then the standard library ...
    sys.path += job["site"]  # ... and only then site-packages (for numpy): none shadows stdlib
    sys.modules["torch"] = None  # the task cells compute, torch does not do it for them
    sys.setrecursionlimit(1000)

    import numpy  # noqa: F401  (before the task code, so a numpy.py it might write is not used)

    no_pickle()

    answer = {"cases": []}
    try:
        probes = {"__name__": "grader_probes"}
        exec(compile(job["probes"], "<grader probes>", "exec"), probes)
        ns = {"__name__": "__main__"}
        exec(compile(job["preamble"], "<setup>", "exec"), ns)
        exec(compile(job["source"], "<task cell>", "exec"), ns)
    except BaseException as err:  # noqa: BLE001 - anything the task cell raises is reported
        answer["load_error"] = error_of(err)
    else:
        missing = [n for n in job["names"] if n not in ns]
        if missing:
            answer["missing"] = missing
        else:
            run = probes["PROBES"][job["task"]]
            for case in job["cases"]:
                try:
                    answer["cases"].append({"out": run(ns, case)})
                except BaseException as err:  # noqa: BLE001
                    answer["cases"].append(error_of(err))
    answer["printed"] = "".join(sys.stdout.parts)[-2000:]
    try:
        data = json.dumps(answer, allow_nan=True)
    except (TypeError, ValueError) as err:
        data = json.dumps({"load_error": {"error": "ResultError",
                                          "message": f"results are not plain data: {err}"}})
    with os.fdopen(results_fd, "w") as out:
        out.write(data)
    os._exit(0)  # skip atexit handlers and finalizers the task code may have registered


main()
