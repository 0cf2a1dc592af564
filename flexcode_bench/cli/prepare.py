"""``flexbench prepare DATASET``: download (or read), preprocess and embed one dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from flexcode_bench import console
from flexcode_bench.cli.errors import friendly_errors
from flexcode_bench.config import DEFAULT_ENCODER


@friendly_errors
def command(
    dataset: Annotated[str, typer.Argument(help="Catalogue name, e.g. ml-100k or amazon-beauty.")],
    *,
    source: Annotated[Optional[str], typer.Option(help="Catalogue source (e.g. mcauley-2014, s3rec).")] = None,
    k_core: Annotated[Optional[int], typer.Option(min=1, help="Iterative k-core (default: catalogue's).")] = None,
    data_dir: Annotated[
        Optional[Path], typer.Option(envvar="FLEXBENCH_DATA", help="Prepared-data folder (default: ./data).")
    ] = None,
    raw_dir: Annotated[Optional[Path], typer.Option(help="Use raw files placed here by hand; no network.")] = None,
    mirror: Annotated[Optional[str], typer.Option(help="Download from this host instead (keeps the URL path).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo preprocessing and embeddings.")] = False,
    encoder: Annotated[
        str, typer.Option(help="Item-text encoder: a sentence-transformers name/path, tfidf-svd, or none.")
    ] = DEFAULT_ENCODER,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda (text encoder).")] = "auto",
    catalogue: Annotated[Optional[Path], typer.Option(help="Catalogue YAML (default: bundled datasets.yaml).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Download (or read from --raw-dir), preprocess and embed DATASET into DATA_DIR/DATASET."""
    from flexcode_bench.config import PrepareConfig
    from flexcode_bench.data.prepare import prepare

    options = dict(
        dataset=dataset, source=source, k_core=k_core, raw_dir=raw_dir, mirror=mirror, force=force,
        encoder=encoder, device=device, catalogue=catalogue,
    )  # fmt: skip
    if data_dir is not None:
        options["data_dir"] = data_dir
    result = prepare(PrepareConfig(**options))

    if as_json:
        payload = {
            "dataset": result.dataset,
            "path": str(result.path),
            "reused": result.reused,
            "stats": result.stats,
            "warnings": result.warnings,
            "embeddings": str(result.embeddings) if result.embeddings else None,
            "timings": result.timings,
        }
        console.data.print_json(json.dumps(payload))
        return
    _render(result)


def _render(result) -> None:
    from rich.table import Table

    stats = result.stats
    table = Table(title=f"{result.dataset} → {result.path}", title_justify="left")
    table.add_column("", style="bold")
    table.add_column("value", justify="right")
    for key in ("n_users", "n_items", "n_interactions"):
        table.add_row(key, f"{stats[key]:,}")
    for split, count in stats.get("split_counts", {}).items():
        table.add_row(f"{split} interactions", f"{count:,}")
    lengths = stats.get("sequence_length", {})
    if lengths:
        table.add_row("sequence length", " / ".join(f"{k} {v:,.1f}" for k, v in lengths.items()))
    for step, count in stats.get("dropped", {}).items():
        table.add_row(f"dropped: {step}", f"{count:,}")
    if result.embeddings:
        table.add_row("embeddings", str(result.embeddings.name))
    console.print_table(table)
    verb = "reused" if result.reused else "prepared"
    seconds = sum(result.timings.values())
    console.success(f"{result.dataset} {verb} in {seconds:.1f} s")
