"""Analysis speed and memory (issue 4).

    python bench/bench_analysis.py              # about 2 minutes
    python bench/bench_analysis.py --repeat 11  # more rounds for a noisy machine

1. Speed: full ``analyze_video`` of an 8 s 1080p clip against one bare PyAV decode of the same
   clip. Like with like: both demux the video and audio streams in one ``container.demux()``
   loop, decode every packet, and decode video with ``thread_type="AUTO"`` (FFmpeg frame and
   slice threads; the analysis with ``decoder_threads=0``, FFmpeg's threads whatever the load,
   like the bare decode, where a sweep would fall back to one thread on a busy machine). The
   analysis decodes on a background thread by default; it is also timed with
   ``decode_thread=False`` (everything on one Python thread). Rounds alternate bare / analysis /
   analysis without the thread; the figures are medians (and minimums) of the rounds. Goal:
   analysis <= 1.5x bare.
2. Memory: peak resident set (``ru_maxrss``) of a fresh Python process that imports veolab's
   analysis and then decodes or analyses one clip, for 4 s and 8 s clips of the same content.
   Goal: no growth with the clip's length beyond noise.

Clips: the simulator at 1080p (8 s, and 4 s with Veo's rules off) and, where ../shared is there,
the real Veo 3.1 720p clip scaled to 1080p with libx264 (CRF 20, preset fast; 8 s and its first
4 s) for real-world picture content. Prints a markdown section for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
VEO = ROOT.parent / "shared" / "fixtures" / "veo31_image_to_video_720p_8s.mp4"

MEMORY_SCRIPT = r"""
import re, sys
import av, cv2, numpy
from veolab.analysis import analyze_video
import veolab.analysis.pipeline
# the analysers load NumPy and OpenCV when the first clip is analysed: load them here, so that
# the peak below is the work's, not the imports'
import veolab.analysis.audio_metrics, veolab.analysis.thumbnails, veolab.analysis.video_metrics

def status(key):
    text = open("/proc/self/status").read()
    return int(re.search(key + r":\s+(\d+)", text).group(1))

mode, path = sys.argv[1], sys.argv[2]
before = status("VmRSS")
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset the peak (VmHWM) to the current RSS: measure the work, not imports
if mode == "bare":
    with av.open(path) as c:
        streams = [c.streams.video[0], *c.streams.audio[:1]]
        streams[0].thread_type = "AUTO"
        for packet in c.demux(*streams):
            for frame in packet.decode():
                pass
elif mode == "analysis":
    analyze_video(path, decoder_threads=0)
print(before, status("VmHWM"))
"""


def bare_decode(path: Path) -> int:
    """One plain decode of every video and audio packet; returns the number of frames."""
    n = 0
    with av.open(str(path)) as c:
        streams = [c.streams.video[0], *c.streams.audio[:1]]
        streams[0].thread_type = "AUTO"
        for packet in c.demux(*streams):
            for _ in packet.decode():
                n += 1
    return n


def sim_clip(path: Path, seconds: int) -> Path:
    from veolab.providers.sim.engine import render_mp4
    from veolab.request import VideoRequest

    req = VideoRequest(
        prompt="a red fox running through snow, cut to a hawk",
        resolution="1080p",
        duration=seconds,
        veo_rules=False,
    )
    path.write_bytes(render_mp4(req, 7))
    return path


def veo_1080p(path: Path, seconds: float) -> Path:
    """The real Veo clip scaled to 1920x1080 (video re-encoded, audio packets copied)."""
    with av.open(str(VEO)) as src, av.open(str(path), "w") as out:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        v = out.add_stream("libx264", rate=24, options={"crf": "20", "preset": "fast"})
        v.width, v.height, v.pix_fmt = 1920, 1080, "yuv420p"
        v.profile = "High"
        a = out.add_stream_from_template(ain)
        for packet in src.demux(vin, ain):
            if packet.dts is None:
                continue
            t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            if t >= seconds - 1e-6:
                continue
            if packet.stream is ain:
                packet.stream = a
                out.mux(packet)
                continue
            for frame in packet.decode():
                big = frame.reformat(
                    width=1920, height=1080, format="yuv420p", interpolation="LANCZOS"
                )
                big.pts = round(float(frame.time) * 24)
                big.time_base = Fraction(1, 24)
                out.mux(v.encode(big))
        out.mux(v.encode(None))
    return path


def timing(path: Path, rounds: int) -> dict:
    """Alternating rounds of bare decode, analysis, and analysis decoding on the caller's thread."""
    from veolab.analysis import analyze_video

    runs = {
        "bare": lambda: bare_decode(path),
        "full": lambda: analyze_video(path, decoder_threads=0),
        "serial": lambda: analyze_video(path, decode_thread=False, decoder_threads=0),
    }
    for fn in runs.values():  # warm caches and lazy imports
        fn()
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, fn in runs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    return {
        "med": {k: statistics.median(v) for k, v in wall.items()},
        "min": {k: min(v) for k, v in wall.items()},
        "cpu": {k: statistics.median(v) for k, v in cpu.items()},
    }


def peak_rss(mode: str, path: Path, tries: int = 3) -> tuple[int, int]:
    """(RSS after imports, smallest peak RSS over ``tries`` fresh processes), in MiB.

    VmHWM from /proc, reset after the imports: ``ru_maxrss`` would carry the parent's peak
    across fork and exec.
    """
    runs = []
    for _ in range(tries):
        proc = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, mode, str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        before, peak = (int(x) for x in proc.stdout.split()[-2:])
        runs.append((peak, before))
    peak, before = min(runs)
    return round(before / 1024), round(peak / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds per clip")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        clips = {"sim": (sim_clip(d / "sim8.mp4", 8), sim_clip(d / "sim4.mp4", 4))}
        if VEO.is_file():
            clips["veo-1080p"] = (veo_1080p(d / "veo8.mp4", 8), veo_1080p(d / "veo4.mp4", 4))

        print(f"## Analysis (issue 4): {time.strftime('%Y-%m-%d')}\n")
        print(
            f"Machine: {platform.machine()}, Python {platform.python_version()}, PyAV "
            f"{av.__version__} (FFmpeg {av.ffmpeg_version_info}), 2 cores shared with other "
            f"work (load average {os.getloadavg()[0]:.1f} at the start); {args.repeat} "
            "alternating rounds per clip.\n"
        )
        print("### Speed: analyze_video vs one bare decode, 8 s 1080p clip\n")
        print(
            "| clip | size | bare decode | analysis | ratio | analysis, no decode thread | ratio "
            "| CPU time bare / analysis | CPU ratio |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, (eight, _) in clips.items():
            r = timing(eight, args.repeat)
            med, low, cpu = r["med"], r["min"], r["cpu"]
            size = eight.stat().st_size / 1e6
            print(
                f"| {name} | {size:.1f} MB | {med['bare']:.3f} s ({low['bare']:.3f}) "
                f"| {med['full']:.3f} s ({low['full']:.3f}) "
                f"| **{med['full'] / med['bare']:.2f}x** ({low['full'] / low['bare']:.2f}x) "
                f"| {med['serial']:.3f} s ({low['serial']:.3f}) "
                f"| {med['serial'] / med['bare']:.2f}x ({low['serial'] / low['bare']:.2f}x) "
                f"| {cpu['bare']:.3f} s / {cpu['full']:.3f} s | {cpu['full'] / cpu['bare']:.2f}x |"
            )
        print(
            "\nWall times: median of the rounds (minimum in brackets). CPU time: user + system "
            "time of the process over all its threads, median."
        )
        print("\n### Memory: RSS of a fresh process, peak during the work (min of 3)\n")
        print(
            "| clip | after imports | bare 4 s | bare 8 s | analysis 4 s | analysis 8 s "
            "| analysis 8 s - 4 s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for name, (eight, four) in clips.items():
            base, _ = peak_rss("none", four)
            _, b4 = peak_rss("bare", four)
            _, b8 = peak_rss("bare", eight)
            _, a4 = peak_rss("analysis", four)
            _, a8 = peak_rss("analysis", eight)
            print(
                f"| {name} | {base} MiB | {b4} MiB | {b8} MiB | {a4} MiB | {a8} MiB "
                f"| {a8 - a4:+d} MiB |"
            )


if __name__ == "__main__":
    main()
