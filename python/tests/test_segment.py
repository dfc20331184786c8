"""attach/create: segments shared with Go, and never deleted by Python's resource tracker."""

import os
import sys

import pytest

import mmapkit
from conftest import interpreters, run_python

ATTACH = r"""
import sys, mmapkit
seg = mmapkit.attach(sys.argv[1])
print(bytes(seg.buf[:13]).decode(), seg.size)
seg.close()
"""

PLAIN = r"""
import sys
from multiprocessing import shared_memory
sm = shared_memory.SharedMemory(name=sys.argv[1])   # registers it with the resource tracker
print(bytes(sm.buf[:13]).decode(), sm.size)
sm.close()
"""


def test_attach_reads_go_segment(go, name):
    go("segment", name, 10000, b"hello from go".hex())
    with mmapkit.attach(name) as seg:
        assert seg.readonly and seg.size == 10000 and seg.name == name
        assert bytes(seg.buf[:13]) == b"hello from go"
        with pytest.raises(TypeError):
            seg.buf[0] = 1  # read-only mapping
    with mmapkit.attach(name, writable=True) as seg:
        seg.buf[:5] = b"HELLO"
    assert go("read", name, 0, 13) == b"HELLO from go".hex()


def test_array_is_a_view(go, name, np):
    go("segment", name, 4096, "")
    with mmapkit.attach(name, writable=True) as seg:
        a = seg.array("<u4", offset=8, count=4)
        assert a.shape == (4,) and a.tolist() == [0, 0, 0, 0]
        a[1] = 0xDEADBEEF  # writes go to the segment itself
        assert go("read", name, 12, 4) == "efbeadde"
        del a
    with mmapkit.attach(name) as seg:
        b = seg.array("u1")
        assert b.shape == (4096,) and not b.flags.writeable
        del b


@pytest.mark.parametrize("python", interpreters())
def test_segment_survives_python_exit(go, name, python):
    # A Python process attaches to a Go segment and exits: the segment is
    # still there. (capture_output: run() returns after the resource tracker,
    # which inherits the pipes, has exited and done its cleanup.)
    go("segment", name, 10000, b"hello from go".hex())
    r = run_python(ATTACH, name, python=python)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["hello", "from", "go", "10000"]
    assert os.path.exists("/dev/shm/" + name), "Python %s deleted the segment" % python
    assert go("read", name, 0, 13) == b"hello from go".hex()


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="checks the trap of Python 3.8-3.12 only")
def test_plain_shared_memory_deletes_it(go, name):
    # Why attach exists, and proof that the test above can fail: the same
    # with multiprocessing.shared_memory unlinks Go's segment at exit.
    go("segment", name, 10000, b"hello from go".hex())
    r = run_python(PLAIN, name)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists("/dev/shm/" + name)


def test_create_for_go(go, name):
    with mmapkit.create(name, 4096) as seg:
        assert os.stat(seg.path).st_mode & 0o777 == 0o600
        seg.buf[:14] = b"hello from py!"
        assert go("read", name, 0, 14) == b"hello from py!".hex()
        with pytest.raises(FileExistsError):
            mmapkit.create(name, 10)
    with mmapkit.create(name, 100, replace=True) as seg:
        assert seg.size == 100 and bytes(seg.buf[:5]) == bytes(5)
    mmapkit.unlink(name)
    assert not os.path.exists("/dev/shm/" + name)


def test_create_replace_removes_planted_link_not_its_target(name, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    os.symlink(str(target), "/dev/shm/" + name)
    with pytest.raises(FileExistsError):
        mmapkit.create(name, 10)
    with mmapkit.create(name, 10, replace=True):
        pass
    assert target.read_bytes() == b"keep me"


def test_empty_segment(go, name):
    open("/dev/shm/" + name, "wb").close()
    with mmapkit.attach(name) as seg:
        assert seg.size == 0 and len(seg.buf) == 0


def test_list_segments(go, name):
    go("slot", name, 8)
    go("ring", name + "-r", 4096)
    try:
        kinds = {s.name: s for s in mmapkit.list_segments()}
        assert kinds[name].kind == "slot" and kinds[name].size == 136 and kinds[name].mode == 0o600
        assert kinds[name + "-r"].kind == "ring"
    finally:
        os.unlink("/dev/shm/" + name + "-r")
