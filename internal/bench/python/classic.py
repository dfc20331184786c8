#!/usr/bin/env python3
"""The source's Python read methods, for `mmapkit bench --compare-python`.

Standard library only. Reads a JSON spec on stdin (method, file, offsets,
block), runs one method over the same offsets as the Go methods and prints one
JSON result on stdout in the same shape as the Go child's.

The timed loop does what the source's snippets do (seek+read, a mmap slice, a
slice of the whole file read into memory) plus keeping one 8-byte word of each
block, so the checksum can prove the same bytes were read. A full-block
checksum in pure Python would cost more than the reads being measured.
"""
import json
import mmap
import resource
import struct
import sys
import time

MASK = (1 << 64) - 1


def mem():
    anon = filed = 0
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1]) * 1024
                elif line.startswith("RssFile:"):
                    filed = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"rss_anon": anon, "rss_file": filed}


def faults():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_minflt, ru.ru_majflt


def main():
    spec = json.load(sys.stdin)
    method, path, block = spec["method"], spec["file"], spec["block"]
    with open(spec["offsets"], "rb") as f:
        raw = f.read()
    offs = list(struct.unpack("<%dQ" % (len(raw) // 8), raw))
    words = (block + 7) // 8
    pairs = [(off, (i % words) * 8) for i, off in enumerate(offs)]
    word = struct.Struct("<Q").unpack_from
    seen = []
    keep = seen.append
    base = mem()
    f0 = faults()

    t0 = time.perf_counter()
    f = open(path, "rb")
    if method == "py-seek-read":
        t1 = time.perf_counter()
        for off, k in pairs:
            f.seek(off)
            data = f.read(block)
            keep(word(data, k)[0])
    elif method in ("py-mmap", "py-mmap-random"):
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        if method == "py-mmap-random":
            mm.madvise(mmap.MADV_RANDOM)
        t1 = time.perf_counter()
        for off, k in pairs:
            data = mm[off:off + block]
            keep(word(data, k)[0])
    elif method == "py-readall":
        whole = f.read()
        t1 = time.perf_counter()
        for off, k in pairs:
            data = whole[off:off + block]
            keep(word(data, k)[0])
    else:
        raise SystemExit("unknown method %r" % method)
    t2 = time.perf_counter()
    f1 = faults()
    peak = mem()

    spot = 0
    for i, w in enumerate(seen):
        spot = (spot + w * (2 * i + 1)) & MASK
    n = len(offs)
    json.dump({
        "method": method,
        "lang": "python",
        "setup_s": t1 - t0,
        "access_s": t2 - t1,
        "total_s": t2 - t0,
        "reads": n,
        "bytes": n * block,
        "ns_per_read": (t2 - t1) * 1e9 / n if n else 0,
        "peak": {k: max(peak[k], base[k]) for k in peak},
        "baseline": base,
        "faults": {"minor": f1[0] - f0[0], "major": f1[1] - f0[1]},
        "checksum": {"full": 0, "spot": spot},
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
