"""Which runs a report uses: one config per dataset and model, and never a run whose files do not read back.

A run's *config identity* is the hash of its resolved config without the seed: the profile, the
model's options and the protocol. A results folder can hold runs of several identities for one
model (``run`` keeps a finished run of another config aside as ``seed-<n>@<config_hash>``). The
rule: for each dataset and model, the report uses the identity of the most recently finished run,
with all its seeds, and lists the runs of other identities it left out, so the caption says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from flexcode_bench.config import stable_hash


def config_identity(config: dict) -> str:
    """The hash of a run's resolved config without its seed (what seeds of one experiment share)."""
    return stable_hash({key: value for key, value in config.items() if key not in ("seed", "config_hash")})


def select_runs(runs: Sequence) -> tuple[list, dict[str, list[str]]]:
    """The finished runs a report uses, and per dataset a note for each group of runs left out."""
    groups: dict[tuple[str, str], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        groups[(run.dataset, run.model)][config_identity(run.config)].append(run)
    kept: list = []
    left_out: dict[str, list[str]] = defaultdict(list)
    for (dataset, model), by_identity in sorted(groups.items()):
        newest = max(by_identity, key=lambda identity: max(str(r.manifest.get("finished_at") or "") for r in by_identity[identity]))
        kept += by_identity[newest]
        for identity, others in sorted(by_identity.items()):
            if identity != newest:
                left_out[dataset].append(
                    f"{model}: {len(others)} run(s) of an older config {identity} (profile {others[0].config.get('profile')}) "
                    f"left out; used config {newest} (profile {by_identity[newest][0].config.get('profile')})"
                )
    return sorted(kept, key=lambda r: (r.dataset, r.model, r.seed)), dict(left_out)


def broken_notes(broken: Sequence[tuple[Path, str]]) -> dict[str, list[str]]:
    """Per dataset (the folder three levels up), a note for each run left out because a file did not read back."""
    notes: dict[str, list[str]] = defaultdict(list)
    for folder, problem in broken:
        notes[Path(folder).parent.parent.name].append(f"{Path(folder).parent.name}/{Path(folder).name} unreadable ({problem})")
    return dict(notes)
