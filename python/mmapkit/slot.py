"""Reader of the shared-memory slot (FORMAT.md, "Shared-memory slot")."""

import struct
import time
import zlib
from typing import Any, Optional, Tuple

from ._files import FormatError, MappedSource, Source, WriterStuck, as_array

SLOT_MAGIC = b"MKSL"
SLOT_VERSION = 1
SLOT_HEADER_SIZE = 128
SLOT_MAX_CAPACITY = 1 << 30
_OFF_SEQ = 64
_OFF_LENGTH = 76
_SMALL = 4096  # values up to this size come with the length in one read
_U32 = struct.Struct("<I")


def slot_size(capacity: int) -> int:
    """Bytes a slot of this capacity occupies (shm.SlotSize in Go)."""
    return SLOT_HEADER_SIZE + ((capacity + 7) & ~7)


class Slot:
    """A read-only view of an mmapkit shm.Slot (the latest value a Go writer stored).

    name_or_path is a segment name (in /dev/shm) or a path; offset is where
    the slot's header starts. stuck_timeout bounds every load and wait: if no
    consistent value can be read for that long, however the writer behaves,
    they raise WriterStuck.

    By default the reader never maps the file: it reads with pread(2), so a
    segment truncated under it raises Truncated (a FormatError) instead of
    killing the interpreter with SIGBUS. mapped=True reads through a mapping
    instead: no system calls, several times faster per load, but a peer that
    truncates the segment kills the interpreter (see MappedSource).
    """

    def __init__(self, name_or_path: str, offset: int = 0, stuck_timeout: float = 1.0, mapped: bool = False) -> None:
        if stuck_timeout <= 0:
            raise ValueError("stuck_timeout must be positive, not %r" % (stuck_timeout,))
        self.stuck_timeout = stuck_timeout
        self._src = (MappedSource if mapped else Source)(name_or_path)
        self.path = self._src.path
        try:
            self._parse(offset)
        except BaseException:
            self._src.close()
            raise

    def _parse(self, off: int) -> None:
        size = self._src.size()
        if off < 0 or off % 8 or off + SLOT_HEADER_SIZE > size:
            raise FormatError("%s: no room for a slot header at offset %d of %d bytes" % (self.path, off, size))
        h = self._src.read(off, 16)
        if h[:4] != SLOT_MAGIC:
            raise FormatError("%s: not a slot: magic %r" % (self.path, h[:4]))
        (crc,) = struct.unpack_from("<I", h, 12)
        if crc != zlib.crc32(h[:12]):
            raise FormatError("%s: slot header checksum mismatch" % self.path)
        version, hsize, cap = struct.unpack_from("<HHI", h, 4)
        if version != SLOT_VERSION:
            raise FormatError("%s: slot version %d, this reader knows %d" % (self.path, version, SLOT_VERSION))
        if hsize != SLOT_HEADER_SIZE:
            raise FormatError("%s: slot header size %d" % (self.path, hsize))
        if cap == 0 or cap % 8 or cap > SLOT_MAX_CAPACITY:
            raise FormatError("%s: slot capacity %d" % (self.path, cap))
        if off + SLOT_HEADER_SIZE + cap > size:
            raise FormatError("%s: slot of capacity %d does not fit in %d bytes at offset %d" % (self.path, cap, size, off))
        self.offset = off
        self.capacity = cap

    def close(self) -> None:
        """Close the file. Further calls raise ValueError."""
        self._src.close()

    def __enter__(self) -> "Slot":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def seq(self) -> int:
        """The current sequence: 0 before the first store, odd during one."""
        return self._src.u64(self.offset + _OFF_SEQ)

    def _load(self, read) -> Tuple[int, Any]:
        # One seqlock read: the sequence, the length and the value, and the
        # sequence again; the copy counts only if the sequence was even and
        # did not move. Bounded in time whatever the writer does.
        src, base, cap = self._src, self.offset, self.capacity
        seq_off, len_off, data = base + _OFF_SEQ, base + _OFF_LENGTH, base + SLOT_HEADER_SIZE
        first = None
        deadline = 0.0
        tries = 0
        while True:
            s1 = src.u64(seq_off)
            if not s1 & 1:
                # One pread for the length and a small value (the bytes
                # between them come along): a system call costs more than
                # the copy.
                head = src.read(len_off, data - len_off + min(cap, _SMALL))
                n = _U32.unpack_from(head)[0]
                if n > cap:
                    if src.u64(seq_off) == s1:
                        raise FormatError("%s: slot length %d exceeds capacity %d (sequence %d)" % (self.path, n, cap, s1))
                else:
                    value = read(data, n, head, data - len_off)
                    if src.u64(seq_off) == s1:
                        return s1, value
            tries += 1
            if tries < 4:
                continue  # a store takes nanoseconds: look again at once
            now = time.monotonic()
            if first is None:
                first, deadline = s1, now + self.stuck_timeout
            elif now > deadline:
                if s1 == first:
                    raise WriterStuck("%s: slot sequence %d odd for %.3f s: the writer likely died mid-store"
                                      % (self.path, s1, self.stuck_timeout))
                raise WriterStuck("%s: no consistent slot value within %.3f s (sequence %d, then %d): "
                                  "the writer never finishes a store or stores faster than a read"
                                  % (self.path, self.stuck_timeout, first, s1))
            if tries > 100:
                time.sleep(0.00005)

    def load(self) -> Tuple[int, bytes]:
        """Return (sequence, value) of one complete store, never a torn mix.

        Raises WriterStuck if no consistent value can be read within
        stuck_timeout, FormatError if the slot holds an impossible length.
        """
        def read(off: int, n: int, head: bytes, at: int) -> bytes:
            if at + n <= len(head):
                return head[at:at + n]
            return self._src.read(off, n)

        return self._load(read)

    def load_into(self, buf: Any) -> Tuple[int, int]:
        """Copy the value into buf (a bytearray, memoryview, NumPy array...); return (sequence, length).

        No bytes object is made: the value goes straight from the file into
        buf, which must have room for the whole value (ValueError otherwise;
        capacity bytes always suffice). Only buf's first length bytes are
        the value; on an exception buf's contents are undefined.
        """
        mv = memoryview(buf).cast("B")
        if mv.readonly:
            raise ValueError("load_into needs a writable buffer")

        def read(off: int, n: int, head: bytes, at: int) -> int:
            if n > len(mv):
                raise ValueError("%s: value of %d bytes, buffer of %d" % (self.path, n, len(mv)))
            if at + n <= len(head):
                mv[:n] = head[at:at + n]
            else:
                self._src.read_into(off, mv[:n])
            return n

        return self._load(read)

    def load_array(self, dtype: Any) -> Tuple[int, Any]:
        """Return (sequence, value as a NumPy array of dtype), without a second copy.

        The array views a fresh buffer the value was read into (writable,
        yours to keep). Needs NumPy; raises ValueError if the value is not a
        whole number of items.
        """
        def read(off: int, n: int, head: bytes, at: int) -> bytearray:
            if at + n <= len(head):
                return bytearray(head[at:at + n])
            buf = bytearray(n)
            self._src.read_into(off, memoryview(buf))
            return buf

        seq, value = self._load(read)
        return seq, as_array(value, dtype, "slot value")

    def wait(self, seq: int, timeout: Optional[float] = None) -> int:
        """Poll until the sequence differs from seq and is even; return it.

        Raises TimeoutError after timeout seconds (None waits forever) and
        WriterStuck if the sequence is odd every time it is looked at for
        longer than stuck_timeout (a writer that died mid-store, or one that
        never completes a store).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.00001
        odd_since = None  # when the sequence was first seen odd, since last seen even
        while True:
            cur = self.seq()
            if cur != seq and not cur & 1:
                return cur
            now = time.monotonic()
            if not cur & 1:
                odd_since = None
            elif odd_since is None:
                odd_since = now
            elif now - odd_since > self.stuck_timeout:
                raise WriterStuck("%s: slot sequence odd (now %d) for %.3f s" % (self.path, cur, now - odd_since))
            if deadline is not None and now >= deadline:
                raise TimeoutError("%s: slot unchanged from sequence %d" % (self.path, seq))
            time.sleep(pause)
            pause = min(pause * 2, 0.001)
