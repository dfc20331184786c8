"""Named shared-memory segments, mapped without Python's resource tracker."""

import errno
import mmap
import os
import stat
from typing import Any, List, NamedTuple, Optional

from ._files import SHM_DIR, _pread, as_array, open_shared, segment_path, validate_name
from .ring import RING_MAGIC
from .slot import SLOT_MAGIC


class Segment:
    """A shared-memory segment mapped into this process.

    Like multiprocessing.shared_memory.SharedMemory, but it never registers
    the segment with Python's resource tracker, which on Python 3.8-3.12
    (and on 3.13 unless track=False) unlinks a segment it saw attached when
    the attaching process exits, deleting a Go program's segment behind its
    back. A Segment lives until someone calls unlink() (or `mmapkit shm rm`).

    buf is a memoryview of the whole mapping. The mapping is the segment's
    memory itself: bytes another process writes are visible at once, with no
    ordering or atomicity guarantees (use Slot for a value that must not be
    read torn, Ring for records). If another process truncates the segment,
    touching buf past its new end raises SIGBUS and kills the interpreter,
    as with any mapping; Slot and Ring never map and cannot be hit by that.
    """

    def __init__(self, fd: int, path: str, name: str, writable: bool) -> None:
        self.path = path
        self.name = name
        self.readonly = not writable
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                # mmap cannot map 0 bytes: an empty segment is an empty buffer
                self._mm = None  # type: Optional[mmap.mmap]
                self.buf = memoryview(b"")
            else:
                access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
                self._mm = mmap.mmap(fd, size, access=access)
                self.buf = memoryview(self._mm)
        finally:
            os.close(fd)  # the mapping keeps the memory; the descriptor is not needed
        self.size = size

    def array(self, dtype: Any, offset: int = 0, count: int = -1) -> Any:
        """A NumPy array of dtype viewing the segment from offset (zero-copy).

        count items (default: as many as fit). Writable if the segment was
        attached writable. Needs NumPy. The array keeps the mapping alive:
        close() raises BufferError while it exists.
        """
        if offset < 0 or offset > self.size:
            raise ValueError("offset %d outside the segment's %d bytes" % (offset, self.size))
        view = self.buf[offset:]
        if count >= 0:
            import numpy  # as_array reports a missing NumPy; here the dtype size is needed

            view = view[: count * numpy.dtype(dtype).itemsize]
        return as_array(view, dtype, "segment %s" % self.name)

    def close(self) -> None:
        """Unmap the segment (it stays in /dev/shm). Raises BufferError if views of buf still exist."""
        if self._mm is not None:
            self.buf.release()
            self._mm.close()
            self._mm = None
            self.buf = memoryview(b"")

    def unlink(self) -> None:
        """Remove the segment's name; processes that have it mapped keep their memory until they close it."""
        os.unlink(self.path)

    def __enter__(self) -> "Segment":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Segment(%r, size=%d%s)" % (self.name, self.size, ", readonly" if self.readonly else "")


def attach(name: str, writable: bool = False) -> Segment:
    """Map an existing segment (made by Go's shm.Create, `mmapkit`, or anyone) and return it.

    name is a segment name (in /dev/shm) or a path. Read-only unless
    writable=True. Nothing unlinks the segment when this process exits, on
    any Python version: the resource tracker is never involved.

    The name is opened without following a symbolic link and without
    blocking, and anything but a regular file is refused
    (NotRegularFileError), like every open in mmapkit.
    """
    fd, path = open_shared(name, writable=writable)
    return Segment(fd, path, name, writable)


def create(name: str, size: int, replace: bool = False) -> Segment:
    """Create a new segment of size bytes (mode 0600), map it read-write, and return it.

    Refuses an existing name with FileExistsError unless replace=True,
    which removes the old name first (processes that have the old segment
    mapped keep it). The memory is allocated now (posix_fallocate), so a
    full /dev/shm is an OSError here instead of a SIGBUS later.
    """
    if size <= 0:
        raise ValueError("segment size must be positive, not %d" % size)
    path = segment_path(name)
    if path.startswith(SHM_DIR + os.sep):
        os.makedirs(SHM_DIR, mode=0o700, exist_ok=True)  # off Linux it is a private directory
    if replace:
        try:
            os.unlink(path)  # removes a planted symlink itself, never its target
        except FileNotFoundError:
            pass
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except (AttributeError, OSError) as e:
            if isinstance(e, OSError) and e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.ftruncate(fd, size)
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return Segment(fd, path, name, True)


def unlink(name: str) -> None:
    """Remove a segment's name (FileNotFoundError if there is none)."""
    os.unlink(segment_path(name))


class SegmentInfo(NamedTuple):
    """One entry of list_segments()."""

    name: str
    size: int
    mode: int  # permission bits
    kind: str  # "slot", "ring" or "" (what the first bytes say)


def _sniff(path: str) -> str:
    try:
        fd, _ = open_shared(path)
    except (OSError, ValueError):
        return ""
    try:
        head = _pread(fd, 8, 0)
    finally:
        os.close(fd)
    if head[:4] == SLOT_MAGIC:
        return "slot"
    if head == RING_MAGIC:
        return "ring"
    return ""


def list_segments(directory: str = SHM_DIR) -> List[SegmentInfo]:
    """The segments in /dev/shm (regular files with valid names), sorted by name."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for e in entries:
        try:
            validate_name(e.name)
            st = e.stat(follow_symlinks=False)
        except (ValueError, OSError):
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        out.append(SegmentInfo(e.name, st.st_size, stat.S_IMODE(st.st_mode), _sniff(os.path.join(directory, e.name))))
    out.sort(key=lambda i: i.name)
    return out

