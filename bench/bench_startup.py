"""How fast ``veolab --help`` starts, and that it imports neither mlflow nor cv2 nor av.

    python bench/bench_startup.py [--repeat 10]

Times the installed console script (fresh process each time), then checks in a fresh
interpreter which heavy modules ``--help`` pulled in, and lists the slowest imports
(``python -X importtime``). For scale it also times importing mlflow, cv2 and av themselves:
what a careless top-level import would add to every command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

HEAVY = ("mlflow", "cv2", "av")

PROBE = """
import sys
from click.testing import CliRunner
from veolab.cli import cli
assert CliRunner().invoke(cli, {args!r}).exit_code == 0
print("heavy:" + ",".join(m for m in {heavy!r} if m in sys.modules))
print("modules:" + str(len(sys.modules)))
"""


def wall(cmd: list[str], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        out.append(time.perf_counter() - t)
    return out


def heavy_after(args: list[str]) -> tuple[list[str], int]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    names, count = proc.stdout.strip().splitlines()[-2:]
    heavy = names.removeprefix("heavy:")
    return [n for n in heavy.split(",") if n], int(count.removeprefix("modules:"))


def slowest_imports(n: int = 5) -> list[tuple[int, str]]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from veolab.cli import cli"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = (
            part.strip() for part in line.removeprefix("import time:").split("|")
        )
        rows.append((int(cumulative), name))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()

    script = shutil.which("veolab", path=os.path.dirname(sys.executable)) or shutil.which("veolab")
    cmd = [script, "--help"] if script else [sys.executable, "-m", "veolab", "--help"]
    times = wall(cmd, args.repeat)
    base = wall([sys.executable, "-c", "pass"], args.repeat)
    heavy_cost = wall([sys.executable, "-c", "import mlflow, cv2, av"], 2)
    print(
        f"`{' '.join(cmd)}`: best {min(times) * 1000:.0f} ms, median "
        f"{statistics.median(times) * 1000:.0f} ms over {args.repeat} runs "
        f"(bare interpreter: best {min(base) * 1000:.0f} ms)"
    )
    print(f"for scale, `import mlflow, cv2, av` alone: best {min(heavy_cost):.2f} s")

    ok = True
    for cli_args in (["--help"], ["generate", "--help"]):
        loaded, count = heavy_after(cli_args)
        print(
            f"veolab {' '.join(cli_args)}: heavy modules imported: {loaded or 'none'} "
            f"({count} modules in sys.modules)"
        )
        ok = ok and not loaded
    print("slowest imports of veolab.cli (cumulative us):")
    for us, name in slowest_imports():
        print(f"  {us:8d}  {name}")
    print("OK: no mlflow, cv2 or av at startup" if ok else "FAIL: a heavy module at startup")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
