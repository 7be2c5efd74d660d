"""Open a study's HTML report in headless Chromium and save a screenshot PNG (proof the plots render).

    python bench/report_screenshot.py STUDY_DIR [--out shot.png] [--height 2600]

Renders the report first (llem report) if STUDY_DIR has none. Needs a Chromium binary (apt-get install -y
chromium); nothing is fetched from the network: the report is self-contained and Chromium runs with networking
features off."""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def screenshot(
    html: Path, out: Path, *, width: int = 1200, height: int = 2600, timeout_s: float = 120
) -> Path:
    """Screenshot `html` with headless Chromium into `out` (PNG)."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (apt-get install -y chromium)")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="llem-chromium-") as profile:
        cmd = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out.resolve()}",
            html.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0 or not out.is_file():
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", type=Path)
    parser.add_argument("--out", type=Path, help="PNG to write (default: STUDY_DIR/report.png)")
    parser.add_argument("--height", type=int, default=2600)
    args = parser.parse_args()
    report = args.study_dir / "report.html"
    if not report.is_file():
        from llem.report.html import render_report

        report = render_report(args.study_dir)
    out = screenshot(report, args.out or args.study_dir / "report.png", height=args.height)
    n_plots = report.read_text().count("data:image/png;base64,")
    w, h = png_size(out)
    print(f"report:     {report} ({n_plots} embedded plots)")
    print(f"screenshot: {out} ({w}x{h} px, {out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
