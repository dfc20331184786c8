"""One rule for every open of a shared name: no symlinks, no blocking, regular files only."""

import os
import socket

import pytest

import mmapkit

OPENERS = {
    "Slot": lambda n: mmapkit.Slot(n),
    "Ring": lambda n: mmapkit.Ring(n),
    "attach": lambda n: mmapkit.attach(n),
}


@pytest.fixture(params=sorted(OPENERS))
def opener(request):
    return OPENERS[request.param]


def test_symlink_in_shm_refused(go, name, opener, tmp_path):
    # A planted link to a real slot (or ring) elsewhere: by name, refused.
    target = name + "-target"
    go("slot", target, 8)
    os.symlink("/dev/shm/" + target, "/dev/shm/" + name)
    try:
        with pytest.raises(mmapkit.NotRegularFileError, match="symbolic link") as e:
            opener(name)
        assert e.value.kind == "symbolic link"
    finally:
        os.unlink("/dev/shm/" + target)


def test_symlink_path_followed(go, name, tmp_path):
    # An explicit path is a path: links in it are followed, as everywhere.
    go("slot", name, 8)
    link = tmp_path / "link"
    link.symlink_to("/dev/shm/" + name)
    with mmapkit.Slot(str(link)) as s:
        assert s.capacity == 8


def test_fifo_refused_without_blocking(name, opener, deadline):
    # Before the fix a FIFO blocked the open until a writer came: for ever.
    path = "/dev/shm/" + name
    os.mkfifo(path, 0o600)
    deadline(20)
    with pytest.raises(mmapkit.NotRegularFileError, match="FIFO"):
        opener(name)
    with pytest.raises(mmapkit.NotRegularFileError, match="FIFO"):
        opener(path)  # by path too


def test_other_types_refused(name, opener, tmp_path):
    with pytest.raises(mmapkit.NotRegularFileError, match="directory"):
        opener(str(tmp_path))
    s = socket.socket(socket.AF_UNIX)
    sock = str(tmp_path / "sock")
    s.bind(sock)
    try:
        with pytest.raises(OSError):  # ENXIO from open(2), or NotRegularFileError
            opener(sock)
    finally:
        s.close()


@pytest.mark.parametrize("bad", ["", "a/../b", "..", "x\n", "y" * 256])
def test_bad_names(bad):
    with pytest.raises(ValueError, match="invalid segment name|with a '/'"):
        mmapkit.validate_name(bad)


def test_missing(opener):
    with pytest.raises(FileNotFoundError):
        opener("mmapkit-pytest-no-such-segment")
