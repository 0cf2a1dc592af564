"""``flexbench ls datasets|models|runs``: list what the registries know and what the results folder holds,
without importing torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from flexcode_bench import console
from flexcode_bench.cli.errors import friendly_errors

app = typer.Typer(help="List datasets, models and runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@app.command("datasets")
@friendly_errors
def datasets(as_json: JsonOption = False) -> None:
    """The dataset catalogue: names, sources and published statistics."""
    from rich.table import Table

    from flexcode_bench.data.catalogue import load_catalogue

    catalogue = load_catalogue()
    rows = [
        {
            "name": spec.name,
            "description": spec.description,
            "sources": list(spec.sources),
            "default_source": spec.default_source,
            "k_core": spec.k_core,
            "expected": spec.expected.model_dump() if spec.expected else None,
        }
        for spec in catalogue.datasets.values()
    ]
    if as_json:
        console.data.print_json(json.dumps(rows))
        return
    table = Table(title=f"datasets ({catalogue.path})", title_justify="left")
    for column in ("name", "sources", "users / items / interactions", "description"):
        table.add_column(column)
    for row in rows:
        sources = ", ".join(f"[bold]{s}[/bold]" if s == row["default_source"] else s for s in row["sources"])
        expected = row["expected"]
        counts = "—" if expected is None else " / ".join(f"{v:,}" for v in expected.values())
        table.add_row(row["name"], sources, counts, row["description"])
    console.print_table(table)


@app.command("models")
@friendly_errors
def models(as_json: JsonOption = False) -> None:
    """Registered models (plus any RecBole sequential model as recbole:<Name>)."""
    from rich.table import Table

    from flexcode_bench.models import MODELS, RECBOLE_PREFIX

    rows = [{"name": name, "target": _describe(MODELS.get_target(name)), "description": MODELS.description(name)} for name in MODELS]
    rows.append({"name": f"{RECBOLE_PREFIX}<Name>", "target": "baselines.recbole_adapter:build",
                 "description": "any RecBole sequential model, e.g. recbole:GRU4Rec, trained on our splits"})  # fmt: skip
    if as_json:
        console.data.print_json(json.dumps(rows))
        return
    table = Table(title="models", title_justify="left")
    for column in ("name", "description", "target"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["description"], f"[dim]{row['target']}[/dim]")
    console.print_table(table)


def _describe(target: object) -> str:
    """A lazy target as written, or a partial as ``module:function(args)``."""
    if isinstance(target, str):
        return target
    func = getattr(target, "func", target)
    args = ", ".join(repr(a) for a in getattr(target, "args", ()))
    return f"{func.__module__}:{func.__name__}({args})"


_STATUS_STYLE = {"finished": "green", "failed": "bold red", "unfinished": "bold yellow", "unreadable": "bold red",
                 "set aside": "yellow"}  # fmt: skip


@app.command("runs")
@friendly_errors
def runs(
    results_dir: Annotated[Path, typer.Option(help="Folder of run records.")] = Path("results"),
    dataset: Annotated[Optional[str], typer.Option("--dataset", "-d", help="Only this dataset.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Only this model.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every run under the results folder: status, profile, config hash, test Recall@10 / NDCG@10,
    wall time and whether the code was dirty. Failed, unfinished, unreadable and set-aside runs are highlighted."""
    from rich.table import Table

    from flexcode_bench.results import list_runs

    rows = [entry.summary() for entry in list_runs(results_dir, dataset=dataset, model=model)]
    if as_json:
        console.data.print_json(json.dumps(rows))
    else:
        table = Table(title=f"runs in {results_dir}", title_justify="left")
        for column in ("dataset", "model", "seed", "status", "profile", "config", "test R@10", "test N@10", "wall", "dirty"):
            table.add_column(column, justify="right" if column in ("seed", "test R@10", "test N@10", "wall") else "left")
        for row in rows:
            style = _STATUS_STYLE.get(row["status"], "")
            status = row["status"] + (" (other config, kept aside)" if row["kept_aside"] else "")
            table.add_row(
                row["dataset"], row["model"], _shown(row["seed"]), f"[{style}]{status}[/{style}]",
                _shown(row["profile"]), _shown(row["config_hash"]), _number(row["test_recall@10"]),
                _number(row["test_ndcg@10"]), _duration(row["wall_seconds"]),
                {True: "[yellow]dirty[/yellow]", False: "clean"}.get(row["dirty"], "—"),
                style=None if row["status"] == "finished" else style,
            )  # fmt: skip
        console.print_table(table)
    if not rows:
        console.info(f"no runs under {results_dir}")
        return
    problems = [row for row in rows if row["status"] != "finished"]
    for row in problems:
        console.warning(f"{row['status']}: {row['path']}" + (f" ({row['error']})" if row["error"] else ""))
    counts = {status: sum(r["status"] == status for r in rows) for status in _STATUS_STYLE}
    console.info(", ".join(f"{n} {status}" for status, n in counts.items() if n))


def _shown(value: object) -> str:
    return "—" if value is None else str(value)


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else (f"{minutes}m{secs:02d}s" if minutes else f"{secs}s")
