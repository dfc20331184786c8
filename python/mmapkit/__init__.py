"""Read mmapkit's shared-memory slots and ring files from Python.

Standard library only (mmap, struct, zlib). The layouts are in FORMAT.md at
the root of the mmapkit repository; this package follows it and checks every
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

Command line: python3 -m mmapkit --help
"""

from ._files import SHM_DIR, FormatError, Lapped, WriterStuck, segment_path
from .ring import Ring
from .slot import Slot

__all__ = ["FormatError", "WriterStuck", "Lapped", "Slot", "Ring", "SHM_DIR", "segment_path"]
__version__ = "0.1.0"
