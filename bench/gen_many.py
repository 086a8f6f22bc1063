#!/usr/bin/env python3
"""Generates a release-like tree of many small files, shaped like node_modules: packages with
nested lib/ and dist/ directories, files of a few hundred bytes of JavaScript-like text.
Deterministic, so every run and every peer sees the same bytes."""
import os
import random
import sys

SUBDIRS = ["lib", "lib/utils", "dist", "dist/esm", "dist/cjs/internal", "src/components"]


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: gen_many.py DIR FILES")
    out, files = sys.argv[1], int(sys.argv[2])
    rng = random.Random(20261201)
    per_package = 60
    words = ["const", "return", "function", "module.exports", "require", "=>", "import",
             "export", "default", "value", "options", "callback", "this", "undefined"]
    made = 0
    pkg = 0
    while made < files:
        base = os.path.join(out, "node_modules", f"package-{pkg:05d}")
        pkg += 1
        for d in SUBDIRS:
            os.makedirs(os.path.join(base, d), exist_ok=True)
        with open(os.path.join(base, "package.json"), "w") as f:
            f.write(f'{{"name": "package-{pkg:05d}", "version": "1.{pkg % 17}.0"}}\n')
        made += 1
        for i in range(per_package - 1):
            if made >= files:
                break
            d = SUBDIRS[i % len(SUBDIRS)]
            size = int(rng.expovariate(1 / 600))
            text = " ".join(rng.choice(words) for _ in range(size // 6 + 1))[:size]
            with open(os.path.join(base, d, f"module-{i:03d}.js"), "w") as f:
                f.write(text)
            made += 1


if __name__ == "__main__":
    main()
