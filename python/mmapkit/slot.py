"""Reader of the shared-memory slot (FORMAT.md, "Shared-memory slot")."""

import struct
import time
import zlib

from ._files import FormatError, WriterStuck, _map_readonly, segment_path


SLOT_MAGIC = b"MKSL"
SLOT_VERSION = 1
SLOT_HEADER_SIZE = 128
SLOT_MAX_CAPACITY = 1 << 30
_OFF_SEQ = 64
_OFF_LENGTH = 76


class Slot:
    """A read-only view of an mmapkit shm.Slot."""

    def __init__(self, name_or_path, offset=0, stuck_timeout=1.0):
        self.path = segment_path(name_or_path)
        self.stuck_timeout = stuck_timeout
        self._mm = _map_readonly(self.path)
        try:
            self._parse(offset)
        except BaseException:
            self._mm.close()
            raise

    def _parse(self, off):
        mm = self._mm
        if off < 0 or off % 8 or off + SLOT_HEADER_SIZE > len(mm):
            raise FormatError("no room for a slot header at offset %d of %d bytes" % (off, len(mm)))
        h = mm[off:off + 16]
        if h[:4] != SLOT_MAGIC:
            raise FormatError("not a slot: magic %r" % (h[:4],))
        (crc,) = struct.unpack_from("<I", h, 12)
        if crc != zlib.crc32(h[:12]):
            raise FormatError("slot header checksum mismatch")
        version, hsize, cap = struct.unpack_from("<HHI", h, 4)
        if version != SLOT_VERSION:
            raise FormatError("slot version %d, this reader knows %d" % (version, SLOT_VERSION))
        if hsize != SLOT_HEADER_SIZE:
            raise FormatError("slot header size %d" % hsize)
        if cap == 0 or cap % 8 or cap > SLOT_MAX_CAPACITY:
            raise FormatError("slot capacity %d" % cap)
        if off + SLOT_HEADER_SIZE + cap > len(mm):
            raise FormatError("slot of capacity %d does not fit in %d bytes at offset %d" % (cap, len(mm), off))
        self.offset = off
        self.capacity = cap

    def close(self):
        self._mm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def seq(self):
        """The current sequence: 0 before the first store, odd during one."""
        return struct.unpack_from("<Q", self._mm, self.offset + _OFF_SEQ)[0]

    def load(self):
        """Return (sequence, value) of one complete store, never a torn mix."""
        mm, base, cap = self._mm, self.offset, self.capacity
        data = base + SLOT_HEADER_SIZE
        unpack = struct.unpack_from
        odd_seq, odd_since, spins = None, 0.0, 0
        while True:
            s1 = unpack("<Q", mm, base + _OFF_SEQ)[0]
            if not s1 & 1:
                n = unpack("<I", mm, base + _OFF_LENGTH)[0]
                if n > cap:
                    if unpack("<Q", mm, base + _OFF_SEQ)[0] == s1:
                        raise FormatError("slot length %d exceeds capacity %d" % (n, cap))
                    continue
                value = mm[data:data + n]
                if unpack("<Q", mm, base + _OFF_SEQ)[0] == s1:
                    return s1, value
                continue
            # a store is open: normally for nanoseconds
            now = time.monotonic()
            if s1 != odd_seq:
                odd_seq, odd_since, spins = s1, now, 0
            elif now - odd_since > self.stuck_timeout:
                raise WriterStuck("slot sequence %d odd for %.3f s" % (s1, now - odd_since))
            spins += 1
            if spins > 100:
                time.sleep(0.00005)

    def wait(self, seq, timeout=None):
        """Poll until the sequence differs from seq and is even; return it.

        Raises TimeoutError after timeout seconds (None waits forever) and
        WriterStuck if a store stays open past stuck_timeout.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.00001
        odd_seq, odd_since = None, 0.0
        while True:
            cur = self.seq()
            if cur != seq and not cur & 1:
                return cur
            now = time.monotonic()
            if cur & 1:
                if cur != odd_seq:
                    odd_seq, odd_since = cur, now
                elif now - odd_since > self.stuck_timeout:
                    raise WriterStuck("slot sequence %d odd for %.3f s" % (cur, now - odd_since))
            if deadline is not None and now >= deadline:
                raise TimeoutError("slot unchanged from sequence %d" % seq)
            time.sleep(pause)
            pause = min(pause * 2, 0.001)
