"""The Python Slot reader against slots a Go process writes."""

import os
import struct
import time

import pytest

import mmapkit
from conftest import run_python


@pytest.mark.parametrize("mapped", [False, True])
def test_load_and_wait(go, name, mapped):
    go("slot", name, 64)
    with mmapkit.Slot(name, mapped=mapped) as s:
        assert s.capacity == 64
        assert s.load() == (0, b"")
        seq = int(go("store", name, b"hello".hex()))
        assert s.load() == (seq, b"hello")
        go("store", name, b"world!".hex())
        new = s.wait(seq, timeout=60)
        assert new == seq + 2
        assert s.load() == (new, b"world!")
        with pytest.raises(TimeoutError):
            s.wait(new, timeout=0.01)


@pytest.mark.parametrize("mapped", [False, True])
def test_no_torn_values(go, name, mapped):
    # The writer stores (i, i) continuously: every value loaded is whole.
    go("slot", name, 16)
    go("storeloop", name)
    # a long stuck timeout: on a loaded machine the healthy Go writer can be
    # descheduled mid-store for longer than the default second
    with mmapkit.Slot(name, stuck_timeout=60, mapped=mapped) as s:
        s.wait(0, timeout=60)
        last = 0
        buf = bytearray(16)
        for k in range(20000):
            if k % 2:
                seq, v = s.load()
            else:
                seq, n = s.load_into(buf)
                v = bytes(buf[:n])
            a, b = struct.unpack("<QQ", v)
            assert a == b and a >= last, "torn or backward value %d/%d after %d" % (a, b, last)
            last = a
    assert last > 0


def test_load_into_and_array(go, name, np):
    go("slot", name, 64)
    vals = np.arange(6, dtype="<f8")
    go("store", name, vals.tobytes().hex())
    with mmapkit.Slot(name) as s:
        seq, arr = s.load_array("<f8")
        assert seq == 2 and arr.dtype == np.dtype("<f8")
        assert (arr == vals).all()
        arr[0] = 99  # the array is the caller's own copy
        assert s.load_array("<f8")[1][0] == 0
        out = np.zeros(8, dtype="<f8")
        seq, n = s.load_into(out)
        assert n == 48 and (out[:6] == vals).all()
        with pytest.raises(ValueError):
            s.load_array("V5")  # 48 bytes are no whole number of 5-byte items
        with pytest.raises(ValueError):
            s.load_into(bytearray(8))  # too small for 48 bytes
        with pytest.raises(ValueError):
            s.load_into(b"x" * 64)  # read-only


def test_writer_died_mid_store(go, name, deadline):
    go("slot", name, 8)
    go("store", name, "0102")
    go("halfstore", name)
    deadline(30)
    with mmapkit.Slot(name, stuck_timeout=0.05) as s:
        with pytest.raises(mmapkit.WriterStuck, match="odd"):
            s.load()
        with pytest.raises(mmapkit.WriterStuck):
            s.wait(2)


@pytest.mark.parametrize("call", ["load", "wait"])
def test_hostile_writer_cannot_hang_reader(go, name, deadline, call):
    # A writer that keeps the sequence odd but changes it all the time: the
    # stuck timer must not restart on each change.
    go("slot", name, 8)
    go("store", name, "01")
    go("hostile", name)
    deadline(30)
    # stuck_timeout well above any pause of the Go writer on a busy machine:
    # the old code gave up only when the writer paused that long.
    with mmapkit.Slot(name, stuck_timeout=1.0) as s:
        t = time.monotonic()
        with pytest.raises(mmapkit.WriterStuck):
            if call == "load":
                s.load()
            else:
                s.wait(2)
        assert s.seq() & 1  # still odd: the writer is still at it
    # informative only: the deadline (a Hung exception) is the assertion
    print("gave up after %.3f s" % (time.monotonic() - t))


TRUNCATE = r"""
import sys, mmapkit
s = mmapkit.Slot(sys.argv[1])
print(s.load()[1].hex(), flush=True)
sys.stdin.readline()          # the test truncates the segment now
try:
    s.load()
except mmapkit.Truncated as e:
    print("Truncated", e)
"""


@pytest.mark.parametrize("size", [0, 64, 130])
def test_truncated_under_reader(go, name, size):
    # Before the fix the reader mapped the file and died of SIGBUS here.
    import subprocess
    import sys

    from conftest import PYTHON_DIR

    go("slot", name, 64)
    go("store", name, b"x".hex() * 40)
    p = subprocess.Popen([sys.executable, "-c", TRUNCATE, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert p.stdout.readline().strip() == "78" * 40
    go("truncate", name, size)
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, "reader exited with %d (SIGBUS is -7): %s" % (p.returncode, err)
    assert out.startswith("Truncated"), out + err


def test_garbage_slot_header(tmp_path):
    p = tmp_path / "s"
    p.write_bytes(b"MKSL" + bytes(200))
    with pytest.raises(mmapkit.FormatError, match="checksum"):
        mmapkit.Slot(str(p))
    p.write_bytes(b"")
    with pytest.raises(mmapkit.FormatError):
        mmapkit.Slot(str(p))


def test_closed_slot(go, name):
    go("slot", name, 8)
    s = mmapkit.Slot(name)
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.load()


def test_slot_size_matches_go(go, name):
    go("slot", name, 13)
    assert os.stat("/dev/shm/" + name).st_size == mmapkit.slot_size(13) == 128 + 16


def test_run_python_helper():
    assert run_python("import mmapkit; print(mmapkit.__name__)").stdout.strip() == "mmapkit"
