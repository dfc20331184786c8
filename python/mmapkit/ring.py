"""Follower of a ring file (FORMAT.md, "Ring file"); an shm.Queue is one."""

import struct
import time
import zlib

from ._files import FormatError, Lapped, Source


RING_MAGIC = b"MMKRING\x00"
RING_VERSION = 1
RING_HEADER_SIZE = 4096
RING_MIN_CAPACITY = 4096
RING_MAX_CAPACITY = 1 << 40
RING_SLOTS = 16
RING_ALIGN = 16
_KIND_DATA = 1
_KIND_PADDING = 2
_LEN_MASK = (1 << 28) - 1
_OFF_LIMIT = 256
_OFF_OLDEST = 264
_OFF_OLDEST_SEQ = 272
_OFF_TAIL = 128
_OFF_TAIL_SEQ = 136


def _frame_size(n):
    return (16 + n + RING_ALIGN - 1) & ~(RING_ALIGN - 1)


class Ring:
    """A read-only follower of an mmapkit ring file (or shm.Queue)."""

    def __init__(self, name_or_path, from_end=False):
        self._src = Source(name_or_path)
        self.path = self._src.path
        try:
            self._parse()
            if from_end:
                self.seek_end()
            else:
                self.seek_oldest()
        except BaseException:
            self._src.close()
            raise

    def _parse(self):
        size = self._src.size()
        if size < RING_HEADER_SIZE:
            raise FormatError("%d bytes: shorter than a ring header" % size)
        h = self._src.read(0, 64)
        if h[:8] != RING_MAGIC:
            raise FormatError("not a ring: magic %r" % (h[:8],))
        (version,) = struct.unpack_from("<I", h, 8)
        if version != RING_VERSION:
            raise FormatError("ring format version %d, this reader knows %d" % (version, RING_VERSION))
        (crc,) = struct.unpack_from("<I", h, 60)
        if crc != zlib.crc32(h[:60]):
            raise FormatError("ring header checksum mismatch")
        hsize, cap, maxrec, flags = struct.unpack_from("<IQII", h, 12)
        slots, align = struct.unpack_from("<II", h, 40)
        if hsize != RING_HEADER_SIZE or align != RING_ALIGN or slots != RING_SLOTS:
            raise FormatError("ring header size %d, alignment %d, slots %d" % (hsize, align, slots))
        if flags & ~1:
            raise FormatError("unknown ring flags %#x" % flags)
        if cap < RING_MIN_CAPACITY or cap > RING_MAX_CAPACITY or cap & (cap - 1):
            raise FormatError("ring capacity %d is not a power of two in range" % cap)
        if maxrec < 1 or _frame_size(maxrec) > cap // 2:
            raise FormatError("ring max record %d does not fit capacity %d" % (maxrec, cap))
        if size != RING_HEADER_SIZE + cap:
            raise FormatError("file is %d bytes, the header says %d" % (size, RING_HEADER_SIZE + cap))
        self.capacity = cap
        self.max_record = maxrec
        self.block = bool(flags & 1)
        self._mask = cap - 1
        self._shift = cap.bit_length() - 1

    def close(self):
        self._src.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _u64(self, off):
        return self._src.u64(off)

    def _committed(self, pos):
        # The writer's tail hint (a committed position, published now and
        # then) has passed pos: a frame there that fails its checks is damage.
        return self._u64(_OFF_TAIL) > pos

    def _lapped(self, pos):
        lim = self._u64(_OFF_LIMIT)
        return lim > self.capacity and pos < lim - self.capacity

    def _seq_at(self, pos, hint):
        off = RING_HEADER_SIZE + (pos & self._mask)
        w = self._u64(off)
        kind = (w >> 28) & 0xF
        if (w >> 32) != ((pos >> self._shift) + 1) & 0xFFFFFFFF or kind not in (_KIND_DATA, _KIND_PADDING):
            return hint
        s32 = self._src.u32(off + 8)
        d = (s32 - hint) & 0xFFFFFFFF
        if d >= 1 << 31:
            d -= 1 << 32
        return max(hint + d, 0)

    def seek_oldest(self):
        """Move to the oldest record in the ring."""
        for _ in range(64):
            oldest = self._u64(_OFF_OLDEST)
            seq = self._seq_at(oldest, self._u64(_OFF_OLDEST_SEQ))
            if not self._lapped(oldest):
                self.pos, self.seq = oldest, seq
                return
        raise FormatError("cannot find the oldest record (header inconsistent)")

    def seek_end(self):
        """Move past the newest record: only records appended later are read."""
        self.seek_oldest()
        tail, tail_seq = self._u64(_OFF_TAIL), self._u64(_OFF_TAIL_SEQ)
        if tail > self.pos and not self._lapped(tail) and tail - self.pos <= self.capacity:
            self.pos, self.seq = tail, tail_seq
        while self.next() is not None:
            pass

    def _jump(self):
        for _ in range(64):
            oldest = self._u64(_OFF_OLDEST)
            seq = self._seq_at(oldest, self._u64(_OFF_OLDEST_SEQ))
            if self._lapped(oldest):
                continue
            missed = max(seq - self.seq, 0)
            self.pos, self.seq = oldest, max(seq, self.seq)
            return Lapped(missed, self.seq)
        return FormatError("cannot find the oldest record (header inconsistent)")

    def next(self):
        """Return (seq, payload) of the next record, or None if there is none yet.

        Raises Lapped (and moves to the oldest record) if the writer
        overwrote records not yet read, and FormatError for a corrupt frame
        (the reader stays at it: reading again raises again).
        """
        src = self._src
        recheck = False
        for _ in range(8):
            rel = self.pos & self._mask
            off = RING_HEADER_SIZE + rel
            w = self._u64(off)
            kind, n, tag = (w >> 28) & 0xF, w & _LEN_MASK, w >> 32
            if tag != ((self.pos >> self._shift) + 1) & 0xFFFFFFFF:
                if self._lapped(self.pos):
                    raise self._jump()
                return None
            room = self.capacity - rel - 16
            s32, crc = struct.unpack("<II", src.read(off + 8, 8))
            if (s32 != self.seq & 0xFFFFFFFF or kind not in (_KIND_DATA, _KIND_PADDING)
                    or (kind == _KIND_PADDING and n != room)
                    or (kind == _KIND_DATA and (n > self.max_record or n > room))):
                if self._lapped(self.pos):
                    raise self._jump()
                # Not yet committed: these bytes can be the payload of a frame
                # from the previous lap that happens to carry this lap's tag.
                if not self._committed(self.pos):
                    return None
                if not recheck:
                    recheck = True
                    continue
                raise FormatError("bad frame at position %d (sequence %d)" % (self.pos, self.seq))
            if kind == _KIND_PADDING:
                self.pos += room + 16
                continue
            payload = src.read(off + 16, n)
            if self._lapped(self.pos):
                raise self._jump()
            if zlib.crc32(payload) != crc:
                if not self._committed(self.pos):
                    return None
                if not recheck:
                    recheck = True
                    continue
                # Stay at it, as the Go reader does: after a power loss this
                # is the torn tail, which the next writer's recovery rewrites.
                raise FormatError("record %d fails its checksum" % self.seq)
            seq = self.seq
            self.pos += _frame_size(n)
            self.seq += 1
            return seq, payload
        raise FormatError("padding frames in a row at position %d" % self.pos)

    def follow(self, timeout=None, on_lapped=None):
        """Yield (seq, payload) for every record, waiting for new ones.

        Stops after timeout seconds without a new record (None: never).
        Lapped is passed to on_lapped(exc) if given, else raised.
        """
        pause = 0.00001
        idle_since = time.monotonic()
        while True:
            try:
                rec = self.next()
            except Lapped as e:
                if on_lapped is None:
                    raise
                on_lapped(e)
                continue
            if rec is not None:
                pause = 0.00001
                idle_since = time.monotonic()
                yield rec
                continue
            if timeout is not None and time.monotonic() - idle_since > timeout:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.002)
