"""Time the Python readers: pread (the default) against mapped=True.

    python3 python/tests/bench_readers.py RING SLOT

RING is a ring file with records in it (`mmapkit ring create` + `ring append`),
SLOT a segment with a slot at offset 0. Prints microseconds per operation,
best of five runs, for each way. Not a test: speed is measured, not asserted.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import mmapkit  # noqa: E402


def best(f, runs=5):
    return min(f() for _ in range(runs))


def ring_walk(path, mapped):
    def run():
        with mmapkit.Ring(path, mapped=mapped) as r:
            t = time.perf_counter()
            n = 0
            while r.next() is not None:
                n += 1
            return (time.perf_counter() - t) / max(n, 1) * 1e6
    return run


def slot_loads(path, mapped, n=50000):
    def run():
        with mmapkit.Slot(path, mapped=mapped) as s:
            t = time.perf_counter()
            for _ in range(n):
                s.load()
            return (time.perf_counter() - t) / n * 1e6
    return run


def main():
    ring, slot = sys.argv[1], sys.argv[2]
    print("load average %.1f %.1f %.1f" % os.getloadavg())
    with mmapkit.Ring(ring) as r:
        n = sum(1 for _ in iter(r.next, None))
    for mapped in (False, True):
        way = "mapped" if mapped else "pread "
        print("%s  ring next: %6.2f µs/record (%d records)   slot load: %6.2f µs"
              % (way, best(ring_walk(ring, mapped)), n, best(slot_loads(slot, mapped))))


if __name__ == "__main__":
    main()
