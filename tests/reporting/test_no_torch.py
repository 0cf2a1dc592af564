"""reporting/ reads run records only: building, rendering and plotting never import torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_report_render_and_plots_run_without_importing_torch(toy, tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        from flexcode_bench.cli import report as cli_report
        from flexcode_bench.reporting import plots, render, report
        assert "matplotlib" not in sys.modules, "matplotlib must be imported inside the plotting functions"
        built = report.build_report({str(toy[0])!r}, metrics=["ndcg@10"], by_popularity=True, n_resamples=100)
        for fmt in render.FORMATS:
            render.render(built, fmt)
        plots.write_plots(built, {str(tmp_path)!r})
        heavy = sorted(name for name in ("torch", "sentence_transformers", "faiss", "recbole") if name in sys.modules)
        assert not heavy, heavy
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
