"""pip install ./python works, and the README's three lines read a Go ring."""

import os
import re
import subprocess
import sys

import pytest

from conftest import PYTHON_DIR, REPO, interpreters


def three_lines():
    """The README's snippet (after its "three-lines" marker)."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- three-lines.*?-->\s*```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its three-lines snippet"
    code = m.group(1)
    assert len(code.strip().splitlines()) == 3
    return code


def run(*args, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, **kw)
    assert r.returncode == 0, "%s\n%s%s" % (" ".join(str(a) for a in args), r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from python/ by this interpreter (offline: no build isolation)."""
    for mod in ("setuptools", "wheel", "pip"):
        if subprocess.run([sys.executable, "-c", "import " + mod], capture_output=True).returncode:
            pytest.skip("building the package needs %s in %s" % (mod, sys.executable))
    out = tmp_path_factory.mktemp("dist")
    # pip would write build/ and *.egg-info into python/: build from a copy
    src = tmp_path_factory.mktemp("src") / "python"
    run(sys.executable, "-c", "import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], "
        "ignore=shutil.ignore_patterns('build', '*.egg-info', '__pycache__', '.pytest_cache'))", PYTHON_DIR, src)
    run(sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-w", out, src)
    (whl,) = out.glob("mmapkit-*.whl")
    return whl


def pythons():
    """This interpreter and the oldest and newest others found."""
    found = interpreters()
    others = found[1:]
    return found[:1] + ([others[0], others[-1]] if len(others) > 1 else others)


@pytest.mark.parametrize("python", pythons())
def test_install_and_three_lines(go, name, wheel, tmp_path, python):
    venv = tmp_path / "venv"
    run(python, "-m", "venv", "--without-pip", venv)
    vpy = venv / "bin" / "python"
    # install the wheel with this interpreter's pip into the venv (no network, no build)
    run(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
        next((venv / "lib").glob("python3*")) / "site-packages", wheel)
    go("ring", name, 1 << 16)
    go("append", name, 3)
    code = three_lines().replace('"events"', repr(name))
    p = subprocess.Popen([str(vpy), "-c", code], cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    try:
        lines = [p.stdout.readline().split(" ", 1)[0] for _ in range(3)]
    finally:
        p.kill()
        _, err = p.communicate()
    assert lines == ["0", "1", "2"], err
    r = run(vpy, "-c", "import mmapkit, os; print(os.path.dirname(mmapkit.__file__))", cwd=str(tmp_path))
    assert r.stdout.strip().startswith(str(venv)), "imported from %s, not the install" % r.stdout
    r = run(vpy, "-m", "mmapkit", "tail", name, "--format", "hex", cwd=str(tmp_path))
    assert len(r.stdout.splitlines()) == 3
    # the package data (type information) came along
    assert any((venv / "lib").glob("python3*/site-packages/mmapkit/py.typed"))
