"""`veolab check` as a person waits for it: whole processes, against a bare PyAV decode (issue 11).

    python bench/bench_check.py              # about a minute
    python bench/bench_check.py --rounds 9   # more rounds for a noisy machine

Both sides are fresh Python processes, timed from start to exit:

- bare: ``import av``, open the clip, demux its video and audio streams in one loop and decode
  every packet (video with FFmpeg's frame and slice threads), nothing else;
- check: ``python -m veolab check CLIP --json`` (probe, full decode, every metric, stills, the
  contact sheet, the checks, the JSON on stdout).

The clip is the real Veo 3.1 clip scaled to 1920x1080 (8 s, with its audio) where
../shared/fixtures holds it, else the simulator's 8 s 1080p clip. Rounds alternate bare and
check; the figures are medians (and minimums). Goal: check <= 1.3x bare. Also the import time of
the analysis alone (``python -c "import veolab.analysis.pipeline, veolab.analysis.audio_metrics"``)
and whether it imports scipy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_analysis import VEO, sim_clip, veo_1080p  # noqa: E402

BARE = r"""
import sys
import av
with av.open(sys.argv[1]) as c:
    streams = [c.streams.video[0], *c.streams.audio[:1]]
    streams[0].thread_type = "AUTO"
    for packet in c.demux(*streams):
        for frame in packet.decode():
            pass
"""

IMPORTS = r"""
import sys
import veolab.analysis.pipeline, veolab.analysis.audio_metrics
print(json.dumps({"scipy": "scipy" in sys.modules, "pyloudnorm": "pyloudnorm" in sys.modules}))
"""


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    a = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        if VEO.is_file():
            veo_1080p(clip, 8.0)
            source = "real Veo 3.1 clip scaled to 1080p, 8 s"
        else:
            sim_clip(clip, 8)
            source = "simulator 1080p, 8 s"
        subprocess.run(
            [py, "-m", "veolab", "check", str(clip), "--json"],
            check=False,
            stdout=subprocess.DEVNULL,
        )  # warm the page cache and .pyc files
        timed([py, "-c", BARE, str(clip)])
        bare, check, imports = [], [], []
        for _ in range(a.rounds):
            bare.append(timed([py, "-c", BARE, str(clip)]))
            check.append(timed([py, "-m", "veolab", "check", str(clip), "--json"]))
            imports.append(timed([py, "-c", "import json\n" + IMPORTS]))
        loaded = json.loads(
            subprocess.run(
                [py, "-c", "import json\n" + IMPORTS], check=True, capture_output=True, text=True
            ).stdout
        )
    out = {
        "clip": source,
        "rounds": a.rounds,
        "bare_decode_s": {"median": round(statistics.median(bare), 3), "min": round(min(bare), 3)},
        "veolab_check_s": {
            "median": round(statistics.median(check), 3),
            "min": round(min(check), 3),
        },
        "ratio_median": round(statistics.median(check) / statistics.median(bare), 2),
        "ratio_min": round(min(check) / min(bare), 2),
        "analysis_import_s": round(statistics.median(imports), 3),
        "analysis_imports": loaded,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
