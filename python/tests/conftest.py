"""Fixtures: a Go process that writes what the Python readers read.

The Go side is the shm package's test binary run as a helper ("pyserver",
shm/pyserver_test.go). `go test ./shm` runs these tests with the binary in
MMAPKIT_GO_HELPER; run standalone (python3 -m pytest python/tests), they
build it with `go test -c` if Go is installed, and skip what needs it if not.
"""

import itertools
import os
import shutil
import signal
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(PYTHON_DIR)

sys.path.insert(0, PYTHON_DIR)  # the package under test, installed or not

_names = itertools.count()


def _require_numpy() -> bool:
    return os.environ.get("MMAPKIT_REQUIRE_NUMPY") == "1"


@pytest.fixture
def np():
    """NumPy, or a skip (a failure when MMAPKIT_REQUIRE_NUMPY=1)."""
    try:
        import numpy
    except ImportError:
        if _require_numpy():
            pytest.fail("NumPy is missing and MMAPKIT_REQUIRE_NUMPY=1")
        pytest.skip("NumPy is not installed")
    return numpy


class GoServer:
    """The helper process: one command line in, one reply line out."""

    def __init__(self, binary):
        env = dict(os.environ, MMAPKIT_SHM_HELPER="pyserver")
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True, bufsize=1)

    def __call__(self, *args):
        line = " ".join(str(a) for a in args)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().rstrip("\n")
        if not reply.startswith("ok"):
            raise RuntimeError("Go helper: %s: %s" % (line, reply or "no reply (exited?)"))
        return reply[3:]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory):
    b = os.environ.get("MMAPKIT_GO_HELPER")
    if b:
        return b
    if shutil.which("go") is None:
        pytest.skip("needs Go: set MMAPKIT_GO_HELPER or install Go (go test ./shm runs these tests)")
    out = str(tmp_path_factory.mktemp("go") / "shm.test")
    subprocess.run(["go", "test", "-c", "-o", out, "./shm"], cwd=REPO, check=True)
    return out


@pytest.fixture(scope="session")
def go(go_binary):
    """A running Go helper (shared by the session; see GoServer)."""
    s = GoServer(go_binary)
    yield s
    s.close()


@pytest.fixture
def name(go):
    """A fresh segment name, unlinked after the test (and its Go loops stopped)."""
    n = "mmapkit-pytest-%d-%d" % (os.getpid(), next(_names))
    yield n
    go("stop")
    try:
        os.unlink("/dev/shm/" + n)
    except OSError:
        pass


class Hung(Exception):
    """A call did not return within the test's deadline."""


@pytest.fixture
def deadline():
    """deadline(seconds): raise Hung in this thread if the test is still running then.

    The regression tests for hangs use it, so that a hang fails the test
    instead of hanging the run.
    """

    def on_alarm(signum, frame):
        raise Hung("still running after the deadline")

    old = signal.signal(signal.SIGALRM, on_alarm)

    def arm(seconds):
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def run_python(code, *args, python=None, timeout=60):
    """Run code in a fresh interpreter with the package importable; return the CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=PYTHON_DIR, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([python or sys.executable, "-c", code] + [str(a) for a in args],
                          env=env, capture_output=True, text=True, timeout=timeout)


def interpreters():
    """Every Python 3.8+ found here: this one first, then python3.N on PATH and pyenv's versions, oldest first."""
    found = [sys.executable]
    others = []
    cands = [shutil.which("python3.%d" % m) for m in range(8, 20)]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    vers = os.path.join(root, "versions")
    if os.path.isdir(vers):
        cands += [os.path.join(vers, v, "bin", "python3") for v in sorted(os.listdir(vers))]
    seen = {os.path.realpath(sys.executable)}
    for c in cands:
        if not c or not os.access(c, os.X_OK) or os.path.realpath(c) in seen:
            continue
        try:
            out = subprocess.run([c, "-c", "import sys; print(sys.hexversion, sys.executable)"],
                                 capture_output=True, text=True, timeout=30).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        if len(out) == 2 and int(out[0]) >= 0x03080000 and os.path.realpath(out[1]) not in seen:
            seen.add(os.path.realpath(out[1]))
            others.append((int(out[0]), out[1]))
    return found + [p for _, p in sorted(others)]

