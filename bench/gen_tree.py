#!/usr/bin/env python3
"""Generates the benchmark tree: N files totalling about SIZE bytes, half compressible text
(config- and log-like lines) and half random bytes, in nested directories. Deterministic for a
given seed, so every run and every peer sees the same bytes."""
import os
import random
import sys


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: gen_tree.py DIR TOTAL_MB FILES")
    out, total_mb, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = random.Random(20261126)
    avg = total_mb * 1024 * 1024 // files
    words = [f"key{i}=value{i * 7 % 1000}" for i in range(500)]
    for i in range(files):
        d = os.path.join(out, f"d{i % 37:02d}", f"s{i % 11:02d}")
        os.makedirs(d, exist_ok=True)
        size = max(0, int(rng.expovariate(1 / avg))) if i % 50 else avg
        path = os.path.join(d, f"f{i:05d}.{'txt' if i % 2 == 0 else 'bin'}")
        with open(path, "wb") as f:
            if i % 2 == 0:
                buf = []
                n = 0
                while n < size:
                    line = " ".join(rng.choice(words) for _ in range(8)) + "\n"
                    buf.append(line)
                    n += len(line)
                f.write("".join(buf).encode()[:size])
            else:
                f.write(rng.randbytes(size))


if __name__ == "__main__":
    main()
