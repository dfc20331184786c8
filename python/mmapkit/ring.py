"""Follower of a ring file (FORMAT.md, "Ring file"); an shm.Queue is one."""

import struct
import time
import zlib

from ._files import FormatError, Lapped, MappedSource, Source


RING_MAGIC = b"MMKRING\x00"
RING_VERSION = 2
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
_OFF_OLDEST_CHECK = 280
_OFF_TAIL = 128
_OFF_TAIL_SEQ = 136
_STATIC_LEN = 124  # the static header's CRC covers bytes 0..123 and sits at 124
_CHECKSUM_NONE = 0
_CHECKSUM_CRC32 = 1
_M64 = (1 << 64) - 1
_MAX_POSITION = 1 << 62
_TAIL_EVERY = 4096  # the writer publishes its tail hint at least every 4 KiB of frames


def _old_check(oldest, seq):
    """The check word the writer stores after the oldest position and its sequence number."""
    return ~((oldest * 0x9E3779B97F4A7C15 + seq * 0xC2B2AE3D27D4EB4F) & _M64) & _M64


def _frame_size(n):
    return (16 + n + RING_ALIGN - 1) & ~(RING_ALIGN - 1)


class Ring:
    """A read-only follower of an mmapkit ring file (or shm.Queue)."""

    def __init__(self, name_or_path, from_end=False, mapped=False):
        # mapped: read through a mapping, and return records as memoryviews of
        # it (zero-copy), at the risk of SIGBUS if a peer truncates the file;
        # see MappedSource. The default reads with pread and returns bytes.
        self._src = (MappedSource if mapped else Source)(name_or_path)
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
        h = self._src.read(0, 128)
        if h[:8] != RING_MAGIC:
            raise FormatError("not a ring: magic %r" % (h[:8],))
        (version,) = struct.unpack_from("<I", h, 8)
        if version != RING_VERSION:
            raise FormatError("ring format version %d, this reader knows %d" % (version, RING_VERSION))
        (crc,) = struct.unpack_from("<I", h, _STATIC_LEN)
        if crc != zlib.crc32(h[:_STATIC_LEN]):
            raise FormatError("ring header checksum mismatch")
        hsize, cap, maxrec, flags = struct.unpack_from("<IQII", h, 12)
        slots, align, checksum = struct.unpack_from("<III", h, 40)
        if hsize != RING_HEADER_SIZE or align != RING_ALIGN or slots != RING_SLOTS:
            raise FormatError("ring header size %d, alignment %d, slots %d" % (hsize, align, slots))
        if flags & ~1:
            raise FormatError("unknown ring flags %#x" % flags)
        if checksum not in (_CHECKSUM_NONE, _CHECKSUM_CRC32):
            raise FormatError("unknown ring checksum kind %d" % checksum)
        if cap < RING_MIN_CAPACITY or cap > RING_MAX_CAPACITY or cap & (cap - 1):
            raise FormatError("ring capacity %d is not a power of two in range" % cap)
        if maxrec < 1 or _frame_size(maxrec) > cap // 2:
            raise FormatError("ring max record %d does not fit capacity %d" % (maxrec, cap))
        if size != RING_HEADER_SIZE + cap:
            raise FormatError("file is %d bytes, the header says %d" % (size, RING_HEADER_SIZE + cap))
        self.capacity = cap
        self.max_record = maxrec
        self.block = bool(flags & 1)
        self.crc = checksum == _CHECKSUM_CRC32
        self.ring_id = bytes(h[56:72]).hex()
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
        # A hint past the limit is impossible (a damaged word): it proves nothing.
        tail = self._u64(_OFF_TAIL)
        return pos < tail <= self._u64(_OFF_LIMIT)

    def _lapped(self, pos):
        lim = self._u64(_OFF_LIMIT)
        return lim > self.capacity and pos < lim - self.capacity

    def _seq_bounds(self, pos):
        # Every frame takes at least 16 bytes; besides data frames each lap
        # has at most one padding frame, shorter than the largest data frame.
        fs = _frame_size(self.max_record)
        pad = ((pos >> self._shift) + 1) * (fs - 16)
        lo = (pos - pad) // fs if pos > pad else 0
        return lo, pos // RING_ALIGN

    def _check_oldest(self, oldest, seq, limit):
        if limit > _MAX_POSITION:
            return "write limit %d is past the largest position" % limit
        if oldest > limit or limit - oldest > self.capacity or oldest % RING_ALIGN or limit % RING_ALIGN:
            return "oldest position %d and write limit %d are inconsistent" % (oldest, limit)
        lo, hi = self._seq_bounds(oldest)
        if not lo <= seq <= hi:
            return "oldest sequence number %d is impossible at position %d" % (seq, oldest)
        return None

    def _oldest(self):
        """(position, sequence number) of the oldest record.

        The writer stores the position, the number and a check word one
        after the other: a triple whose check word does not fit is read
        again; one that never fits is a writer killed between the stores
        (the oldest frame has the low bits of the right number) or damage.
        """
        why = None
        for i in range(200):
            if i >= 100:
                time.sleep(0)
            oldest, seq, check = struct.unpack("<QQQ", self._src.read(_OFF_OLDEST, 24))
            limit = self._u64(_OFF_LIMIT)
            if oldest == 0 and seq == 0 and check == 0 and limit == 0:
                return 0, 0  # no writer has opened the ring yet
            why = self._check_oldest(oldest, seq, limit)
            if why:
                continue
            off = RING_HEADER_SIZE + (oldest & self._mask)
            w = self._u64(off)
            framed = ((w >> 32) == ((oldest >> self._shift) + 1) & 0xFFFFFFFF
                      and (w >> 28) & 0xF in (_KIND_DATA, _KIND_PADDING))
            s32 = self._src.u32(off + 8)
            if self._lapped(oldest):
                continue
            if check == _old_check(oldest, seq):
                if framed and s32 != seq & 0xFFFFFFFF:
                    why = "the oldest frame carries sequence number %d, the header says %d" % (s32, seq & 0xFFFFFFFF)
                    continue
                return oldest, seq
            why = "oldest position and sequence number do not match their check word"
            if i < 199 or not framed:
                continue
            d = (s32 - seq) & 0xFFFFFFFF
            if d <= self.capacity // RING_ALIGN:
                lo, hi = self._seq_bounds(oldest)
                if lo <= seq + d <= hi:
                    return oldest, seq + d
        raise FormatError("cannot find the oldest record: %s" % why)

    def seek_oldest(self):
        """Move to the oldest record in the ring."""
        self.pos, self.seq = self._oldest()

    def seek_end(self):
        """Move past the newest record: only records appended later are read.

        It starts from the writer's tail hint (published at least every 4 KiB
        of frames) and walks at most a few KiB of frames, however large the
        ring and however fast the writer.
        """
        for attempt in range(50):
            try:
                # The writer overtook the walk three times: this process
                # cannot keep up with it, so take the hint as it is (at
                # most a few KiB of records before the end), once it
                # reads whole: a hint caught mid-update is read again
                # rather than leaving the reader at the oldest record.
                if self._seek_end(walk=attempt < 3) or attempt < 3:
                    return
            except Lapped:
                continue  # the writer overtook the walk: start again
            except FormatError:
                # A writer lapping a small ring faster than this process
                # reads its header; damage raises again below.
                continue
        self.seek_oldest()

    def _seek_end(self, walk=True):
        """Seek to the end; report whether the tail hint was used."""
        # The position first, then its sequence number (the writer stores
        # them in the other order): a pair torn by an update then has, at
        # its position, a frame of this lap with another sequence number,
        # and is not used (FORMAT.md, "Reading"). The hint is checked
        # against the write limit alone, so that a writer lapping a small
        # ring faster than this process reads the oldest pair cannot keep
        # the reader from the end.
        tail = self._u64(_OFF_TAIL)
        tail_seq = self._u64(_OFF_TAIL_SEQ)
        limit = self._u64(_OFF_LIMIT)
        if (0 < tail <= limit <= _MAX_POSITION and limit - tail <= self.capacity
                and tail % RING_ALIGN == 0):
            lo, hi = self._seq_bounds(tail)
            if lo <= tail_seq <= hi:
                w, s32 = struct.unpack("<QI", self._src.read(RING_HEADER_SIZE + (tail & self._mask), 12))
                torn = w >> 32 == ((tail >> self._shift) + 1) & 0xFFFFFFFF and s32 != tail_seq & 0xFFFFFFFF
                if not torn and not self._lapped(tail):
                    self.pos, self.seq = tail, tail_seq
                    budget = _TAIL_EVERY + 2 * _frame_size(self.max_record) + RING_ALIGN
                    start = self.pos
                    while walk and self.pos - start < budget and self.next(_copy=False) is not None:
                        pass
                    return True
        self.seek_oldest()
        start = self.pos
        while walk and self.pos - start < self.capacity and self.next(_copy=False) is not None:
            pass
        return False

    def _jump(self):
        try:
            oldest, seq = self._oldest()
        except FormatError as e:
            return e
        missed = max(seq - self.seq, 0)
        self.pos, self.seq = oldest, max(seq, self.seq)
        return Lapped(missed, self.seq)

    def next(self, _copy=True):
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
            # The frame header in one read: commit word, seq32, CRC.
            w, s32, crc = struct.unpack("<QII", src.read(off, 16))
            kind, n, tag = (w >> 28) & 0xF, w & _LEN_MASK, w >> 32
            if tag != ((self.pos >> self._shift) + 1) & 0xFFFFFFFF:
                if self._lapped(self.pos):
                    raise self._jump()
                return None
            room = self.capacity - rel - 16
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
            if not _copy and not self.crc:
                seq = self.seq
                self.pos += _frame_size(n)
                self.seq += 1
                return seq, b""
            payload = src.view(off + 16, n)
            if self._lapped(self.pos):
                raise self._jump()
            if not self.crc and self._u64(off) != w:
                # pread does not read 8 bytes at once: the commit word was
                # read while it changed (a torn length). Read it again.
                continue
            if self.crc and zlib.crc32(payload) != crc:
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
