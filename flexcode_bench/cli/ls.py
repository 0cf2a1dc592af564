"""``flexbench ls datasets|models``: list what the registries know, without importing torch."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flexcode_bench import console
from flexcode_bench.cli.errors import friendly_errors

app = typer.Typer(help="List datasets and models.", no_args_is_help=True)

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

    from flexcode_bench.models import MODELS

    rows = [{"name": name, "target": _describe(MODELS.get_target(name)), "description": MODELS.description(name)} for name in MODELS]
    rows += [{"name": f"{prefix}<Name>", "target": f"{target}(<Name>)", "description": description}
             for prefix, (target, description) in MODELS.prefixes().items()]  # fmt: skip
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
    """A lazy target as written (a variant by its label)."""
    from flexcode_bench.registry import Lazy

    return target.label if isinstance(target, Lazy) else str(target)
