"""Open ``flexbench report --format html`` in a real headless Chromium, check that its tables
rendered, and save a screenshot.

The page is written to a temporary folder and opened from ``file://`` with every network route
closed (``--host-resolver-rules``), so a page that needed the network would render without it and
fail the check. The check reads the DOM after the page's script ran: the script counts the rows of
the sortable tables it wired up into ``body[data-tables-rendered]``; it must equal the rows in the
HTML. The screenshot must not be blank.

    python bench/html_screenshot.py --results-dir results [--out bench/figures/report-html.png]
        [--layout dataset|paper] [--width 1280] [--height 2400] [--by-popularity]

Needs Debian's ``chromium`` (``apt-get install -y chromium``). Prints one JSON line; exit 1 on a failed check.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM if (path := shutil.which(name))), None)


def chromium(browser: str, page: Path, *args: str, width: int, height: int) -> subprocess.CompletedProcess:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
               "--disable-background-networking", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
               f"--window-size={width},{height}", "--virtual-time-budget=5000", *args, page.as_uri()]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "figures" / "report-html.png")
    parser.add_argument("--layout", default="dataset")
    parser.add_argument("--by-popularity", action="store_true")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2400)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    browser = find_chromium()
    if browser is None:
        print(json.dumps({"ok": False, "error": "no chromium on PATH (apt-get install -y chromium)"}))
        return 1
    from flexcode_bench.reporting.render import render
    from flexcode_bench.reporting.report import build_report

    started = time.perf_counter()
    report = build_report(args.results_dir, by_popularity=args.by_popularity, n_resamples=args.resamples)
    page_html = render(report, "html", args.layout)
    build_seconds = time.perf_counter() - started
    expected_rows = sum(body.count("<tr>") for body in re.findall(r"<tbody>(.*?)</tbody>", page_html, flags=re.S))

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        page.write_text(page_html, encoding="utf-8")
        started = time.perf_counter()
        dom = chromium(browser, page, "--dump-dom", width=args.width, height=args.height)
        shot = Path(folder) / "shot.png"
        taken = chromium(browser, page, f"--screenshot={shot}", width=args.width, height=args.height)
        browser_seconds = time.perf_counter() - started
        rendered = re.search(r'data-tables-rendered="(\d+)"', dom.stdout)
        problems = []
        if dom.returncode != 0 or rendered is None:
            problems.append(f"the page's script did not run (chromium rc {dom.returncode}): {dom.stderr[-500:]}")
        elif int(rendered.group(1)) != expected_rows:
            problems.append(f"{rendered.group(1)} table rows rendered, {expected_rows} in the page")
        if taken.returncode != 0 or not shot.is_file():
            problems.append(f"no screenshot (chromium rc {taken.returncode}): {taken.stderr[-500:]}")
        else:
            problems += _check_and_save(shot, args.out)
    result = {
        "ok": not problems, "problems": problems, "tables": page_html.count("<table"), "rows_expected": expected_rows,
        "rows_rendered": int(rendered.group(1)) if rendered else None, "html_bytes": len(page_html.encode()),
        "build_seconds": round(build_seconds, 1), "browser_seconds": round(browser_seconds, 1),
        "screenshot": str(args.out), "screenshot_bytes": args.out.stat().st_size if args.out.is_file() else None,
        "chromium": subprocess.run([browser, "--version"], capture_output=True, text=True).stdout.strip(),
    }  # fmt: skip
    print(json.dumps(result))
    return 0 if not problems else 1


def _check_and_save(shot: Path, out: Path) -> list[str]:
    """Refuse a blank screenshot; save it as a small palette PNG (a README figure, not a photo)."""
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    if colours is not None and len(colours) < 20:
        return [f"the screenshot is (nearly) blank: {len(colours)} colours"]
    out.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=128).save(out, optimize=True)
    return []


if __name__ == "__main__":
    raise SystemExit(main())
