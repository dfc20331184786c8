"""Read mmapkit's shared-memory slots and ring files from Python.

Standard library only (mmap, struct, zlib). The layouts are in FORMAT.md at
the root of the mmapkit repository; this module follows it and checks every
field it reads before using it, so a damaged or hostile file gives a
FormatError, never an out-of-range read or a hang.

    from mmapkit import Slot, Ring
    with Slot("my-segment") as s:          # /dev/shm/my-segment, or a path
        seq, value = s.load()
        seq = s.wait(seq, timeout=5.0)     # until the writer stores again

    with Ring("events") as r:              # a ring file or an shm.Queue
        for seq, payload in r.follow():    # like tail -f
            ...

Python cannot do atomic loads or sleep on a futex, so readers here validate
instead: a slot value is accepted only if the sequence word was even and
unchanged around the copy; a ring record only if its commit word carries
the right lap, its CRC matches, and the writer had not lapped the reader by
the time the copy was done. Waiting polls with short sleeps. A Python ring
reader is an observer: it never registers, so the writer of a Block ring does
not wait for it, and it can be lapped (it is told how many records it lost).

Command line:
    python3 mmapkit.py slot NAME [--offset N] [--follow]
    python3 mmapkit.py tail NAME [--from-end] [--follow]
"""

import mmap
import os
import struct
import sys
import time
import zlib

__all__ = ["FormatError", "WriterStuck", "Lapped", "Slot", "Ring", "SHM_DIR", "segment_path"]

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


# --- Shared-memory slot (FORMAT.md, "Shared-memory slot") -----------------

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


# --- Ring file (FORMAT.md, "Ring file") -------------------------------------

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
        self.path = segment_path(name_or_path)
        self._mm = _map_readonly(self.path)
        try:
            self._parse()
            if from_end:
                self.seek_end()
            else:
                self.seek_oldest()
        except BaseException:
            self._mm.close()
            raise

    def _parse(self):
        mm = self._mm
        if len(mm) < RING_HEADER_SIZE:
            raise FormatError("%d bytes: shorter than a ring header" % len(mm))
        h = mm[:64]
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
        if len(mm) != RING_HEADER_SIZE + cap:
            raise FormatError("file is %d bytes, the header says %d" % (len(mm), RING_HEADER_SIZE + cap))
        self.capacity = cap
        self.max_record = maxrec
        self.block = bool(flags & 1)
        self._mask = cap - 1
        self._shift = cap.bit_length() - 1

    def close(self):
        self._mm.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _u64(self, off):
        return struct.unpack_from("<Q", self._mm, off)[0]

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
        (s32,) = struct.unpack_from("<I", self._mm, off + 8)
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
        mm = self._mm
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
            s32, crc = struct.unpack_from("<II", mm, off + 8)
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
            payload = mm[off + 16:off + 16 + n]
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


def _main(argv):
    import argparse

    p = argparse.ArgumentParser(prog="mmapkit.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("slot", help="print a slot's value as hex (and follow changes)")
    ps.add_argument("name")
    ps.add_argument("--offset", type=int, default=0)
    ps.add_argument("--follow", action="store_true")
    pt = sub.add_parser("tail", help="print a ring's records as 'seq hex' lines")
    pt.add_argument("name")
    pt.add_argument("--from-end", action="store_true")
    pt.add_argument("--follow", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "slot":
        with Slot(args.name, args.offset) as s:
            seq, value = s.load()
            print(seq, value.hex(), flush=True)
            while args.follow:
                seq = s.wait(seq)
                seq, value = s.load()
                print(seq, value.hex(), flush=True)
    elif args.cmd == "tail":
        with Ring(args.name, from_end=args.from_end) as r:
            def lapped(e):
                print("# %s" % e, file=sys.stderr)
            if args.follow:
                for seq, payload in r.follow(on_lapped=lapped):
                    print(seq, payload.hex(), flush=True)
            else:
                while True:
                    try:
                        rec = r.next()
                    except Lapped as e:
                        lapped(e)
                        continue
                    if rec is None:
                        break
                    print(rec[0], rec[1].hex())
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_main(sys.argv[1:]))
    except (FormatError, WriterStuck, Lapped, OSError) as e:
        print("mmapkit.py: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
