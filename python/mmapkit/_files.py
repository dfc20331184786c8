"""Errors, names and file access shared by the readers.

Every open of a shared name follows one rule, the same as the Go packages
(docs/api.md): open without following a symbolic link (for bare segment
names) and without blocking, then check on the descriptor that it is a
regular file. Readers then read with pread(2), never through a mapping, so a
file truncated under them gives a short read and an exception instead of a
SIGBUS that would kill the interpreter.
"""

import errno
import mmap
import os
import stat
import struct
import sys
import tempfile
import threading
from typing import Any, Tuple

# Where segments live: the directory Go's shm.Dir() uses. On Linux it is
# /dev/shm (the objects shm_open(3) and multiprocessing.shared_memory see);
# elsewhere a private directory under the temporary directory.
SHM_DIR = "/dev/shm" if sys.platform.startswith("linux") else os.path.join(tempfile.gettempdir(), "mmapkit-shm")
MAX_NAME_LEN = 255

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


class FormatError(ValueError):
    """The bytes are not a valid mmapkit structure (or a peer corrupted them)."""


class Truncated(FormatError):
    """The file became shorter than the structure in it while being read.

    Another process truncated (or replaced) it; nothing past the end was
    touched.
    """


class WriterStuck(TimeoutError):
    """No consistent value could be read within the stuck timeout.

    A store stayed in progress (the writer likely died mid-store), or a
    writer kept every copy from being consistent (a hostile or broken peer).
    """


class NotRegularFileError(OSError):
    """A name refers to something other than a regular file.

    kind says what it is: "symbolic link", "FIFO", "directory", "socket",
    "character device", "block device".
    """

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(errno.EINVAL, "is a %s, not a regular file" % kind, path)
        self.kind = kind


class Lapped(Exception):
    """The ring's writer overwrote records this reader had not read yet.

    missed is the number of records lost; reading continues with the oldest
    record still in the ring.
    """

    def __init__(self, missed: int, next_seq: int) -> None:
        super().__init__("lapped by the writer: %d records lost, continuing at %d" % (missed, next_seq))
        self.missed = missed
        self.next_seq = next_seq


def validate_name(name: str) -> None:
    """Raise ValueError unless name is a valid segment name.

    The rule of the Go package (shm.ValidateName): one path component of
    printable characters, no "..", at most 255 bytes.
    """
    why = None
    if not name:
        why = "empty"
    elif len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LEN:
        why = "longer than %d bytes" % MAX_NAME_LEN
    elif ".." in name:
        why = 'contains ".."'
    elif "/" in name or "\\" in name:
        why = "contains a path separator"
    elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        why = "contains a control character"
    if why:
        raise ValueError("invalid segment name %r: %s" % (name, why))


def is_path(name_or_path: str) -> bool:
    """True if the argument is a path (it has a '/', or a '\\' on Windows), False for a bare segment name."""
    return "/" in name_or_path or os.sep in name_or_path or bool(os.altsep and os.altsep in name_or_path)


def segment_path(name_or_path: str) -> str:
    """A bare name means a segment in /dev/shm; anything with a '/' is a path."""
    if is_path(name_or_path):
        return name_or_path
    validate_name(name_or_path)
    return os.path.join(SHM_DIR, name_or_path)


_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISLNK, "symbolic link"),
)


def _kind(mode: int) -> str:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "special file"


def open_shared(name_or_path: str, writable: bool = False) -> Tuple[int, str]:
    """Open a segment name or a path; return (descriptor, path).

    A bare name is opened in /dev/shm without following a symbolic link (the
    directory is world-writable: anyone can plant one); a path follows
    links as paths do. Either way the open cannot block (O_NONBLOCK: a FIFO
    would wait for a writer) and anything but a regular file is refused with
    NotRegularFileError, checked on the descriptor itself.
    """
    path = segment_path(name_or_path)
    flags = (os.O_RDWR if writable else os.O_RDONLY) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not is_path(name_or_path):
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not is_path(name_or_path):
            raise NotRegularFileError(path, "symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(path, _kind(st.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd, path


if hasattr(os, "pread"):
    _pread = os.pread
else:  # Windows: no pread; seek and read under a lock (per process, enough for one reader object)
    _seek_lock = threading.Lock()

    def _pread(fd: int, n: int, off: int) -> bytes:
        with _seek_lock:
            os.lseek(fd, off, os.SEEK_SET)
            return os.read(fd, n)


class Source:
    """Positioned reads of a shared file that never touch past its end.

    Every read is one pread(2): a file that a peer shortened gives a short
    read, reported as Truncated, where a mapping would raise SIGBUS.
    """

    def __init__(self, name_or_path: str) -> None:
        self._fd, self.path = open_shared(name_or_path)

    def _check(self) -> int:
        fd = self._fd
        if fd < 0:
            raise ValueError("I/O operation on a closed reader of %s" % self.path)
        return fd

    def size(self) -> int:
        """The file's current size in bytes."""
        return os.fstat(self._check()).st_size

    def read(self, off: int, n: int) -> bytes:
        """Exactly n bytes at off, or Truncated."""
        b = _pread(self._check(), n, off)
        if len(b) != n:
            raise Truncated("%s: truncated under the reader: %d bytes at offset %d, found %d (file now %d bytes)"
                            % (self.path, n, off, len(b), self.size()))
        return b

    def read_into(self, off: int, buf: memoryview) -> None:
        """Fill buf from off, or Truncated."""
        fd = self._check()
        if not hasattr(os, "preadv"):
            buf[:] = self.read(off, len(buf))
            return
        got = 0
        n = len(buf)
        while got < n:
            # one call fills the buffer without an intermediate bytes object
            k = os.preadv(fd, [buf[got:]], off + got)
            if k <= 0:
                raise Truncated("%s: truncated under the reader: %d bytes at offset %d, found %d (file now %d bytes)"
                                % (self.path, n, off, got, self.size()))
            got += k

    def view(self, off: int, n: int) -> Any:
        """n bytes at off for the caller to keep: a copy here (see MappedSource)."""
        return self.read(off, n)

    def u64(self, off: int) -> int:
        """The little-endian 64-bit word at off."""
        return _U64.unpack(self.read(off, 8))[0]

    def u32(self, off: int) -> int:
        """The little-endian 32-bit word at off."""
        return _U32.unpack(self.read(off, 4))[0]

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class MappedSource(Source):
    """Reads through a read-only mapping of the file: the fast, zero-copy path.

    No system call per read, and view() hands out memoryviews of the
    mapping itself (what np.frombuffer can wrap without a copy). The price:
    if another process truncates the file, touching the mapping past the new
    end raises SIGBUS, which Python cannot catch: the interpreter dies.
    Reads beyond the size the file had when it was opened raise Truncated;
    view() checks the current size (fstat) before it hands a view out, which
    narrows the window but cannot close it. Use it when the writer is
    trusted not to truncate; Source (pread) is the safe default.

    Views stay valid after close(); the mapping goes when the last one does.
    """

    def __init__(self, name_or_path: str) -> None:
        super().__init__(name_or_path)
        try:
            self._len = os.fstat(self._fd).st_size
            # mmap cannot map 0 bytes; an empty file has nothing to read
            self._mm = mmap.mmap(self._fd, self._len, access=mmap.ACCESS_READ) if self._len else None
            self._mv = memoryview(self._mm) if self._mm is not None else memoryview(b"")
        except BaseException:
            super().close()
            raise

    def _bounds(self, off: int, n: int) -> None:
        self._check()
        if off < 0 or n < 0 or off + n > self._len:
            raise Truncated("%s: %d bytes at offset %d are past the %d bytes mapped" % (self.path, n, off, self._len))

    def read(self, off: int, n: int) -> bytes:
        """A copy of n bytes at off."""
        self._bounds(off, n)
        return self._mv[off:off + n].tobytes()

    def read_into(self, off: int, buf: memoryview) -> None:
        """Fill buf from off."""
        self._bounds(off, len(buf))
        buf[:] = self._mv[off:off + len(buf)]

    def view(self, off: int, n: int) -> memoryview:
        """A read-only memoryview of n bytes at off, no copy.

        It shows the file as it is, not as it was: a writer that reuses the
        bytes changes what the view shows. Copy it (bytes(view)) to keep it.
        """
        self._bounds(off, n)
        now = self.size()
        if off + n > now:
            raise Truncated("%s: truncated under the reader: %d bytes at offset %d, the file is now %d bytes" % (self.path, n, off, now))
        return self._mv[off:off + n]

    def u64(self, off: int) -> int:
        self._bounds(off, 8)
        return _U64.unpack_from(self._mv, off)[0]

    def u32(self, off: int) -> int:
        self._bounds(off, 4)
        return _U32.unpack_from(self._mv, off)[0]

    def close(self) -> None:
        if self._mm is not None:
            mm, self._mm = self._mm, None
            self._mv.release()
            try:
                mm.close()
            except BufferError:
                pass  # views are still out there: the mapping goes with the last one
        super().close()


def _optional_numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def as_array(data: Any, dtype: Any, what: str = "buffer") -> Any:
    """data (bytes, a slot value, a ring record, a memoryview) as a NumPy array of dtype, without a copy.

    np.frombuffer with checks: the length must be a whole number of items,
    and a missing NumPy gives an ImportError that says so. The array is
    read-only if data is (bytes), writable if data is (a bytearray).
    """
    np = _optional_numpy()
    if np is None:
        raise ImportError("%s as an array needs NumPy (pip install numpy); memoryview works without it" % what)
    dt = np.dtype(dtype)
    nbytes = memoryview(data).nbytes
    if dt.itemsize == 0 or nbytes % dt.itemsize:
        raise ValueError("%s of %d bytes is not a whole number of %s (%d bytes each)" % (what, nbytes, dt, dt.itemsize))
    return np.frombuffer(data, dtype=dt)

