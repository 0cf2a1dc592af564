"""`report --format html`: one self-contained page that loads nothing, with sortable tables,
embedded figures, protocol and provenance, and FlexCode's per-item allocation; checked in a real
headless Chromium where one is installed."""

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from flexcode_bench.reporting.render import render
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import write_fake_run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = {"head": [{"item": 3, "text": "title: <Star Wars> & co", "train_count": 50, "cf_tokens": 2, "semantic_tokens": 1, "cf_share": 0.7}],
          "tail": [{"item": 9, "text": "title: Flipper", "train_count": 2, "cf_tokens": 0, "semantic_tokens": 3, "cf_share": 0.1}]}  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html-results")
    buckets = ["head", "head", "tail", "tail"]
    write_fake_run(folder, model="flexcode", values={"recall@10": [1, 0, 1, 0], "ndcg@10": [0.5, 0, 0.3, 0]}, buckets=buckets,
                   diagnostics={"allocation_sample": SAMPLE, "training_curve": [{"epoch": 1, "train_loss": 1.0, "valid_metric": 0.1}]})  # fmt: skip
    write_fake_run(folder, model="sasrec", values={"recall@10": [1, 1, 0, 0], "ndcg@10": [0.4, 0.2, 0, 0]}, buckets=buckets)
    return folder


def test_the_html_page_is_self_contained_and_loads_nothing_from_the_network(results):
    page = render(build_report(results, by_popularity=True, n_resamples=50), "html")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert references and all(ref.startswith("data:image/png;base64,") for ref in references)
    assert not re.search(r"@import|url\(|https?://", page.split("<body>", 1)[1] if "<body>" in page else page)
    for ref in references:
        assert base64.b64decode(ref.split(",", 1)[1])[:4] == b"\x89PNG"


def test_the_html_page_has_sortable_tables_protocol_provenance_and_the_allocation_view(results):
    page = render(build_report(results, by_popularity=True, n_resamples=50), "html")
    assert page.count('<table class="sortable">') == 2  # the dataset table and FlexCode's allocation
    assert "addEventListener('click'" in page and 'data-value="0.5"' in page  # recall@10 mean, sorted by value
    assert "title: &lt;Star Wars&gt; &amp; co" in page  # item text escaped, never markup
    assert page.count('class="tok cf"') == 2 and page.count('class="tok sem"') == 4
    assert "Protocol and provenance" in page and "full ranking" in page and "cpu on" in page
    assert "toy-buckets-recall_at_10" in page and "toy-training" in page


def test_report_format_html_writes_the_page_and_the_paper_layout_renders_too(results, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--results-dir", str(results), "--format", "html", "--layout", "paper",
                                      "--resamples", "50", "--k", "10", "--output", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<h2>All datasets</h2>" in page and "toy Δ" in page


def test_chromium_renders_the_tables_and_takes_a_screenshot(results, tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from html_screenshot import find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is absent (Debian: apt-get install -y chromium)")
    out = tmp_path / "shot.png"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "html_screenshot.py"), "--results-dir", str(results),
                           "--out", str(out), "--resamples", "50", "--height", "900", "--by-popularity"],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] and summary["rows_rendered"] == summary["rows_expected"] == 4
    assert out.read_bytes()[:4] == b"\x89PNG"
