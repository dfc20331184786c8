"""Read mmapkit's shared memory from Python: segments, slots and rings written by Go.

Standard library only at run time (NumPy is used when you ask for arrays).
The binary layouts are in FORMAT.md at the root of the mmapkit repository;
the readers check every field before using it, so a damaged or hostile file
raises FormatError, never an out-of-range read, a crash or a hang.

    import mmapkit
    with mmapkit.Ring("events") as r:          # /dev/shm/events: a ring or shm.Queue
        for seq, payload in r.follow():        # like tail -f
            print(seq, payload)

    with mmapkit.Slot("prices") as s:          # a Go shm.Slot
        seq, value = s.load()                  # one whole store, never torn
        seq = s.wait(seq, timeout=5.0)         # until the writer stores again
        seq, arr = s.load_array("<f8")         # as a NumPy array (needs NumPy)

    seg = mmapkit.attach("frames")             # any segment, mapped; never unlinked behind Go's back
    arr = seg.array("<u2")                     # zero-copy NumPy view of the mapping

Python cannot do atomic loads or sleep on a futex, so readers here validate
instead: a slot value is accepted only if the sequence word was even and
unchanged around the copy; a ring record only if its commit word carries
the right lap, its CRC matches (on rings created with checksums; on rings
without, the commit word must read the same before and after the copy), and
the writer had not lapped the reader by the time the copy was done. Waiting
polls with short sleeps, and every wait is bounded. A Python ring reader is an
observer: it never registers, so the writer of a Block ring (a Queue) does not
wait for it, and it can be lapped (it is told how many records it lost).

On x86-64 loads are not reordered with older loads, so a record whose commit
word was seen is read whole. On weakly ordered CPUs (arm64) nothing in CPython
keeps the payload's loads after the commit word's: there a ring without
checksums can, rarely, hand Python a record torn by a concurrent write; one
with checksums cannot.

Slot and Ring read with pread(2) and never map the file, so a file truncated
under them raises Truncated instead of killing the interpreter with SIGBUS.

Command line: python3 -m mmapkit --help
"""

from ._files import (
    SHM_DIR,
    FormatError,
    Lapped,
    NotRegularFileError,
    Truncated,
    WriterStuck,
    as_array,
    segment_path,
    validate_name,
)
from .ring import Ring
from .segment import Segment, SegmentInfo, attach, create, list_segments, unlink
from .slot import Slot, slot_size

__all__ = [
    "SHM_DIR",
    "FormatError",
    "Lapped",
    "NotRegularFileError",
    "Ring",
    "Segment",
    "SegmentInfo",
    "Slot",
    "Truncated",
    "WriterStuck",
    "as_array",
    "attach",
    "create",
    "list_segments",
    "segment_path",
    "slot_size",
    "unlink",
    "validate_name",
]
__version__ = "0.1.0"
