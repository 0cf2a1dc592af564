"""Optional extras: a feature whose extra is missing fails before any run, naming the extra and why."""

from __future__ import annotations

import sys

import pytest

from flexcode_bench.config import RunConfig
from flexcode_bench.errors import ConfigError
from flexcode_bench.extras import installed
from flexcode_bench.runner import plan_grid

needs_no_recbole = pytest.mark.skipif(installed("recbole"), reason="this venv has the recbole extra")


@needs_no_recbole
def test_a_recbole_model_without_the_extra_fails_when_the_grid_is_planned_naming_the_extra(tmp_path):
    config = RunConfig(dataset="any", model="recbole:GRU4Rec", profile="smoke", data_dir=tmp_path, results_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:  # the grid check lists it with its hint, before anything runs
        plan_grid([config])
    text = str(caught.value)
    assert "'recbole:GRU4Rec' needs RecBole" in text
    if sys.version_info[:2] > (3, 11):
        assert "cannot install on Python" in text and "ray<=2.6.3" in text
    else:
        assert 'pip install -e ".[recbole]"' in text
    assert not list(tmp_path.iterdir())  # nothing written


@needs_no_recbole
def test_the_recbole_bench_without_the_extra_exits_with_the_extra_named_before_loading_data(tmp_path):
    import subprocess
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(repo / "bench" / "sasrec_vs_recbole.py"), "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, cwd=repo)  # fmt: skip
    assert done.returncode == 1
    assert "needs RecBole" in done.stderr and "Traceback" not in done.stderr
