"""Errors and file access shared by the slot and ring readers."""

import mmap
import os

SHM_DIR = "/dev/shm"


class FormatError(ValueError):
    """The bytes are not a valid mmapkit structure (or a peer corrupted them)."""


class WriterStuck(TimeoutError):
    """A store stayed in progress past the timeout: the writer likely died."""


class Lapped(Exception):
    """The ring's writer overwrote records this reader had not read yet.

    missed is the number of records lost; reading continues with the oldest
    record still in the ring.
    """

    def __init__(self, missed, next_seq):
        super().__init__("lapped by the writer: %d records lost, continuing at %d" % (missed, next_seq))
        self.missed = missed
        self.next_seq = next_seq


def segment_path(name_or_path):
    """A bare name means a segment in /dev/shm; anything with a '/' is a path."""
    if "/" in name_or_path or os.sep in name_or_path:
        return name_or_path
    if not name_or_path or ".." in name_or_path or len(name_or_path) > 255:
        raise ValueError("invalid segment name %r" % (name_or_path,))
    return os.path.join(SHM_DIR, name_or_path)


def _map_readonly(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise FormatError("%s is empty" % path)
        return mmap.mmap(fd, size, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)
