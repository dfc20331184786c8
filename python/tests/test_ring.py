"""The Python Ring reader against rings and queues a Go process writes."""

import os
import struct
import subprocess
import sys

import pytest

import mmapkit
from conftest import PYTHON_DIR


def msg(i):
    """The record the Go helper appends as number i (queueMsg in shm's tests)."""
    n = 8 + (i * 37) % 300
    return struct.pack("<Q", i) + bytes((i + j) & 0xFF for j in range(8, n))


@pytest.mark.parametrize("kind", ["ring", "queue"])
@pytest.mark.parametrize("mapped", [False, True])
def test_tail_everything(go, name, kind, mapped):
    go(kind, name, 1 << 20)
    go("append", name, 2000)
    with mmapkit.Ring(name, mapped=mapped) as r:
        got = list(iter(r.next, None))
    assert [s for s, _ in got] == list(range(2000))
    assert all(p == msg(s) for s, p in got)
    assert all(isinstance(p, memoryview if mapped else bytes) for _, p in got)


def test_mapped_records_are_views(go, name, np):
    # mapped=True hands out the ring's own bytes: no copy at all, and a
    # NumPy array over a record shares the mapping's memory.
    import mmap

    go("ring", name, 1 << 16)
    go("append", name, 1)
    r = mmapkit.Ring(name, mapped=True)
    seq, p = r.next()
    assert p.readonly and isinstance(p.obj, mmap.mmap)
    a = mmapkit.as_array(p, "<u8")
    assert a.tolist() == [0]
    base = np.frombuffer(p.obj, "u1")  # the whole mapping
    start = base.ctypes.data
    assert start + 4096 <= a.ctypes.data < start + base.size  # inside the mapping's data area
    del base
    r.close()  # views outlive close: the mapping goes with the last one
    assert a.tolist() == [0] and bytes(p) == bytes(8)


def test_follow_while_go_appends(go, name):
    go("ring", name, 1 << 16)
    with mmapkit.Ring(name) as r:
        go("appendloop", name)
        lost = []
        last = -1
        for seq, payload in r.follow(timeout=60, on_lapped=lambda e: lost.append(e.missed)):
            assert seq > last and payload == msg(seq)
            last = seq
            if seq >= 20000:
                break
    # a small ring and a fast writer: Python may be lapped, and is then told how many it lost
    print("lapped %d times, %d records lost" % (len(lost), sum(lost)))


def test_record_as_array(go, name, np):
    go("ring", name, 1 << 16)
    go("append", name, 2)
    with mmapkit.Ring(name) as r:
        (s0, p0), (s1, p1) = r.next(), r.next()
    a = mmapkit.as_array(p0, "<u8")  # record 0 is the 8-byte number 0
    assert a.tolist() == [0]
    assert a.base is p0 or a.base.obj is p0  # a view of the record's bytes: no copy
    b = mmapkit.as_array(p1[8:], "u1")
    assert b.tolist() == list(p1[8:])
    with pytest.raises(ValueError, match="whole number"):
        mmapkit.as_array(p1, "<u8")  # record 1 is 45 bytes


TRUNCATE = r"""
import sys, mmapkit
r = mmapkit.Ring(sys.argv[1])
print(r.next()[0], flush=True)
sys.stdin.readline()          # the test truncates the ring now
try:
    while r.next() is not None:
        pass
    print("no error")
except mmapkit.Truncated as e:
    print("Truncated", e)
"""


@pytest.mark.parametrize("size", [0, 4096, 4096 + 100])
def test_truncated_under_reader(go, name, size):
    # Before the fix the reader mapped the file and died of SIGBUS here.
    go("ring", name, 1 << 16)
    go("append", name, 100)
    p = subprocess.Popen([sys.executable, "-c", TRUNCATE, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=PYTHON_DIR))
    assert p.stdout.readline().strip() == "0"
    go("truncate", name, size)
    out, err = p.communicate("go\n", timeout=60)
    assert p.returncode == 0, "reader exited with %d (SIGBUS is -7): %s" % (p.returncode, err)
    assert out.startswith("Truncated"), out + err


def test_not_a_ring(go, name):
    go("slot", name, 64)
    with pytest.raises(mmapkit.FormatError, match="not a ring|shorter"):
        mmapkit.Ring(name)
