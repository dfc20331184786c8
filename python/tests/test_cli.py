"""python3 -m mmapkit: formats like the Go tool's, help on every flag, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import PYTHON_DIR, run_python
from mmapkit.__main__ import _parser, escape

VALUE = b'a\tb\\c\n\x00\xff\xe2\x82\xac "q"'


def cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "mmapkit"] + [str(a) for a in args], cwd=PYTHON_DIR,
                          capture_output=True, timeout=timeout)


@pytest.mark.parametrize("fmt,want", [
    ("text", b'a\\tb\\\\c\\n\\x00\\xff\xe2\x82\xac "q"\n'),
    ("hex", VALUE.hex().encode() + b"\n"),
    ("raw", VALUE + b"\n"),
])
def test_slot_formats(go, name, fmt, want):
    go("slot", name, 64)
    go("store", name, VALUE.hex())
    r = cli("slot", name, "--format", fmt)
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
    r = cli("slot", name, "--format", fmt, "--seq")
    assert r.stdout == (want if fmt == "raw" else b"2\t" + want)


def test_json(go, name):
    go("slot", name, 64)
    go("store", name, VALUE.hex())
    obj = json.loads(cli("slot", name, "--format", "json").stdout)
    assert obj == {"seq": 2, "len": len(VALUE), "base64": "YQliXGMKAP/igqwgInEi"}
    go("store", name, "héllo".encode().hex())
    assert json.loads(cli("slot", name, "--format", "json").stdout) == {"seq": 4, "len": 6, "text": "héllo"}


def test_tail(go, name):
    go("ring", name, 1 << 16)
    go("append", name, 3)
    r = cli("tail", name, "--format", "hex", "--seq")
    lines = r.stdout.decode().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["0", "1", "2"]
    assert lines[0] == "0\t" + (0).to_bytes(8, "little").hex()
    r = cli("tail", name, "--follow", "--timeout", "0.2", "--format", "json")
    assert [json.loads(line)["seq"] for line in r.stdout.splitlines()] == [0, 1, 2]


def test_ls(go, name):
    go("slot", name, 8)
    r = cli("ls", "--json")
    got = [s for s in json.loads(r.stdout) if s["name"] == name]
    assert got == [{"name": name, "size": 136, "mode": "0600", "kind": "slot"}]
    assert name in cli("ls").stdout.decode()


def test_every_flag_has_help():
    parser = _parser()
    sub = next(a for a in parser._actions if a.choices and isinstance(a.choices, dict))
    assert set(sub.choices) == {"ls", "slot", "tail"}
    for cmd, p in sub.choices.items():
        for a in p._actions:
            assert a.help and a.help.strip(), "%s %s has no help" % (cmd, a.option_strings or a.dest)


def test_errors_and_exit_codes(name):
    r = cli("slot", name)  # missing
    assert r.returncode == 1 and r.stderr.decode().startswith("mmapkit: ") and name in r.stderr.decode()
    assert r.stderr.decode().count("\n") == 1  # said once
    assert cli("slot").returncode == 2
    assert cli("tail", "x", "--format", "yaml").returncode == 2
    assert cli("--help").returncode == 0


def test_broken_pipe_is_quiet(go, name):
    go("ring", name, 1 << 20)
    go("append", name, 5000)
    p = subprocess.Popen([sys.executable, "-m", "mmapkit", "tail", name], cwd=PYTHON_DIR,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == b""


@pytest.mark.parametrize("data,want", [
    (b"plain", "plain"),
    (b"\x7f\x1b", "\\x7f\\x1b"),
    ("\u00a0".encode(), "\\xc2\\xa0"),  # no-break space: not printable in Go either
    (b"\xe2\x82", "\\xe2\\x82"),  # a cut UTF-8 sequence
])
def test_escape(data, want):
    assert escape(data) == want


def test_module_runs(go, name):
    assert run_python("import mmapkit.__main__ as m; print(m.FORMATS)").stdout.strip() == "('text', 'hex', 'json', 'raw')"


@pytest.fixture(scope="session")
def go_cli(tmp_path_factory):
    """The Go tool (cmd/mmapkit), built once, to compare outputs with."""
    import shutil

    from conftest import REPO

    b = os.environ.get("MMAPKIT_GO_CLI")
    if b:
        return b
    if shutil.which("go") is None:
        pytest.skip("needs Go to build cmd/mmapkit")
    out = str(tmp_path_factory.mktemp("cli") / "mmapkit")
    subprocess.run(["go", "build", "-o", out, "./cmd/mmapkit"], cwd=REPO, check=True)
    return out


@pytest.mark.parametrize("fmt", ["text", "hex", "json", "raw"])
@pytest.mark.parametrize("seq", [False, True])
def test_same_output_as_go_tool(go, go_cli, name, fmt, seq):
    # One output style across both tools: a slot value and a ring's records
    # print byte for byte the same.
    flags = ["--format", fmt] + (["--seq"] if seq else [])
    go("slot", name, 64)
    go("store", name, VALUE.hex())
    py = cli("slot", name, *flags)
    gosl = subprocess.run([go_cli, "shm", "cat", name] + flags, capture_output=True, timeout=60)
    assert py.returncode == gosl.returncode == 0, (py.stderr, gosl.stderr)
    assert py.stdout == gosl.stdout
    ring = name + "-ring"
    go("ring", ring, 1 << 16)
    try:
        go("append", ring, 20)
        py = cli("tail", ring, *flags)
        gor = subprocess.run([go_cli, "ring", "tail", "-n", "1000", "/dev/shm/" + ring] + flags,
                             capture_output=True, timeout=60)
        assert py.returncode == gor.returncode == 0, (py.stderr, gor.stderr)
        assert py.stdout == gor.stdout
    finally:
        os.unlink("/dev/shm/" + ring)
