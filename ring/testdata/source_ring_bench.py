"""The source's "production" MmapRingBuffer, verbatim, timed on this machine.

Usage: python3 source_ring_bench.py DIR RECORD_SIZE SECONDS
Prints one line: "<records appended> <seconds> <CPU seconds>" for a steady-state run
(a first lap fills the file so that its pages are mapped, as the Go
benchmark's ring is pre-faulted at creation).
"""
import mmap
import os
import struct
import sys
import time


class MmapRingBuffer:
    HEADER_SIZE = 16  # write_pos (8 bytes) + count (8 bytes)

    def __init__(self, path, capacity=1_000_000, record_size=256):
        self.record_size = record_size
        self.capacity = capacity
        total_size = self.HEADER_SIZE + capacity * record_size

        if not os.path.exists(path):
            with open(path, 'wb') as f:
                f.write(b'\x00' * total_size)

        self._f = open(path, 'r+b')
        self._mm = mmap.mmap(self._f.fileno(), total_size)

    def write(self, data: bytes):
        assert len(data) <= self.record_size
        padded = data.ljust(self.record_size, b'\x00')

        write_pos, count = struct.unpack('QQ', self._mm[:16])
        offset = self.HEADER_SIZE + (write_pos % self.capacity) * self.record_size
        self._mm[offset:offset + self.record_size] = padded

        write_pos += 1
        count = min(count + 1, self.capacity)
        self._mm[:16] = struct.pack('QQ', write_pos, count)

    def close(self):
        self._mm.flush()
        self._mm.close()
        self._f.close()


def main():
    directory, size, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    path = os.path.join(directory, "source-ring-%d.bin" % size)
    capacity = (64 << 20) // size  # the same 64 MiB as the Go benchmark
    rb = MmapRingBuffer(path, capacity=capacity, record_size=size)
    rec = bytes(range(256))[:size]
    for _ in range(capacity):  # first lap: map every page
        rb.write(rec)
    n = 0
    cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10000):
            rb.write(rec)
        n += 10000
        now = time.perf_counter()
        if now >= deadline:
            break
    print(n, now - start, time.process_time() - cpu0)
    rb.close()
    os.remove(path)


if __name__ == "__main__":
    main()
