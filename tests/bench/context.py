"""Code-context figures: gather + scan + size the project's own tree, and secret-scan throughput.

    uv run python -m tests.bench.context

Prints (to stderr): the time to collect, read, secret-scan and size every tracked file (`git ls-files`) the way
`chat(files=[...])` would, cold (first call, detect-secrets imported) and warm; and scan throughput in MB/s on the
tree's text, on text crafted so every line passes the prefilter, and for comparison detect-secrets' plugins called
line by line the plain way.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from opper_mcp.context.assemble import gather
from opper_mcp.context.secrets import _detectors, scan
from opper_mcp.context.types import Limits

ROOT = Path(__file__).resolve().parents[2]
WIDE = Limits(max_files=100_000, max_total_bytes=1_000_000_000, max_file_bytes=10_000_000)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()


def best_of(n: int, fn: object) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return min(times)


def plain_line_by_line(text: str) -> int:
    hits = 0
    plugins = [d.plugin for d in _detectors() if not d.config_only]
    for line in text.split("\n"):
        for p in plugins:
            hits += any(True for _ in p.analyze_string(line))
    return hits


def main() -> None:
    files = tracked()
    t = time.perf_counter()
    g = gather([ROOT], files, limits=WIDE)
    cold = time.perf_counter() - t
    warm = best_of(3, lambda: gather([ROOT], files, limits=WIDE))
    size = sum(len(p.text.encode()) + len(p.data) for p in g.parts)
    say(f"project tree: {len(files)} tracked files -> {len(g.attached)} attached, {len(g.skipped)} skipped, "
        f"{size / 1e6:.2f} MB, ~{g.est_tokens:,} tokens")
    say(f"  gather (collect + read + scan + size): cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms "
        f"({size / 1e6 / warm:.1f} MB/s end to end)")
    walk = best_of(3, lambda: gather([ROOT], ["."], limits=WIDE))
    w = gather([ROOT], ["."], limits=WIDE)
    say(f"  the same tree as files=['.'] (walk + .gitignore + read + scan): {len(w.attached)} attached, "
        f"{walk * 1000:.0f} ms")
    for s in g.skipped[:10]:
        say(f"  skipped {s.path}: {s.reason}")

    texts = []
    for rel in files:
        try:
            texts.append(((ROOT / rel).read_text(encoding="utf-8"), rel))
        except (UnicodeDecodeError, OSError):
            continue
    mb = sum(len(x.encode()) for x, _ in texts) / 1e6
    dt = best_of(3, lambda: [scan(x, name) for x, name in texts])
    say(f"secret scan, project text ({mb:.2f} MB in {len(texts)} files): {mb / dt:.1f} MB/s")

    at, xo = "@", "xox"  # kept apart so this file itself holds no credential-shaped text
    hostile = "".join(f"aws_url_{i} = 'https://user{i}:pw{at}host/ eyJhbGciOi.eyJzdWIi.sig {xo}b-12-ab'\n"
                      for i in range(20_000))
    hmb = len(hostile) / 1e6
    dt = best_of(3, lambda: scan(hostile, "x.py"))
    say(f"secret scan, every line a prefilter hit ({hmb:.2f} MB): {hmb / dt:.1f} MB/s")

    sample = "\n".join(x for x, _ in texts)[:2_000_000]
    smb = len(sample.encode()) / 1e6
    dt_plain = best_of(1, lambda: plain_line_by_line(sample))
    dt_fast = best_of(3, lambda: scan(sample, "x.py"))
    say(f"same {smb:.2f} MB: detect-secrets' plugins line by line {smb / dt_plain:.1f} MB/s, gated {smb / dt_fast:.1f} "
        f"MB/s ({dt_plain / dt_fast:.0f}x)")


if __name__ == "__main__":
    main()
