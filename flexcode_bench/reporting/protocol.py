"""The evaluation protocol a run was made under, as recorded in its manifest, and its one-line summary.

A table only puts side by side runs made under one protocol (DESIGN.md §3): the split, history
masking, tie policy, cut-offs K and the popularity-bucket scheme with its thresholds must agree, or
the report refuses unless the caller allows mixing explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flexcode_bench.errors import ConfigError
from flexcode_bench.results import RunRecord

# Field name → what it means, in the order errors and captions list them.
PROTOCOL_FIELDS: dict[str, str] = {
    "split": "split",
    "mask_history": "history masking",
    "tie_policy": "tie policy",
    "ks": "cut-offs K",
    "buckets": "bucket scheme",
    "bucket_scheme": "bucket scheme parameters",
    "bucket_thresholds": "bucket thresholds",
}


def protocol_of(run: RunRecord) -> dict[str, Any]:
    """The comparable protocol fields of a run (None where the manifest does not record one)."""
    protocol = run.protocol
    buckets = (run.manifest.get("diagnostics") or {}).get("buckets") or {}
    ks = protocol.get("ks")
    return {
        "split": protocol.get("split"),
        "mask_history": protocol.get("mask_history"),
        "tie_policy": protocol.get("tie_policy"),
        "ks": None if ks is None else sorted(int(k) for k in ks),
        "buckets": protocol.get("buckets"),
        "bucket_scheme": buckets.get("scheme"),
        "bucket_thresholds": buckets.get("thresholds"),
    }


def differing_fields(runs: Sequence[RunRecord], *, allow_mixed: bool = False) -> list[str]:
    """The protocol fields on which ``runs`` disagree; raises unless ``allow_mixed``.

    The error names the first differing field, two values and a run holding each.
    """
    differing: list[str] = []
    for name, label in PROTOCOL_FIELDS.items():
        seen: dict[str, RunRecord] = {}
        for run in runs:
            seen.setdefault(_canonical(protocol_of(run)[name]), run)
        if len(seen) < 2:
            continue
        differing.append(name)
        if not allow_mixed:
            (value_a, run_a), (value_b, run_b) = list(seen.items())[:2]
            raise ConfigError(
                f"runs of {run_a.dataset} were made under different protocols: {label} ({name}) is "
                f"{_shown(value_a)} in {run_a.path} but {_shown(value_b)} in {run_b.path}",
                hint="re-run them under one protocol, or pass --allow-mixed (allow_mixed=True) to compare anyway",
            )
    return differing


def describe(protocol: dict[str, Any], *, n_users: int, split: str, mixed: Sequence[str] = ()) -> str:
    """One line for captions and figure footnotes, e.g. ``leave-one-out · full ranking · ties pessimistic · …``.

    Fields listed in ``mixed`` (runs disagree on them) read "mixed" instead of the first run's value.
    """
    parts = ["split mixed" if "split" in mixed else protocol.get("split") or "split not recorded", "full ranking"]
    tie = protocol.get("tie_policy")
    parts.append("tie policy mixed" if "tie_policy" in mixed else (f"ties {tie}" if tie else "tie policy not recorded"))
    mask = protocol.get("mask_history")
    if "mask_history" in mixed:
        parts.append("history masking mixed")
    else:
        parts.append("history not recorded" if mask is None else ("history masked" if mask else "history not masked"))
    bucket_fields = {"buckets", "bucket_scheme", "bucket_thresholds"}
    parts.append("bucket scheme mixed" if bucket_fields & set(mixed) else _describe_buckets(protocol))
    parts.append(f"{n_users:,} {split} users")
    return " · ".join(parts)


def _describe_buckets(protocol: dict[str, Any]) -> str:
    scheme = protocol.get("bucket_scheme") or {"name": protocol.get("buckets")}
    name, head, torso = scheme.get("name"), scheme.get("head"), scheme.get("torso")
    if name is None:
        return "bucket scheme not recorded"
    if head is None or torso is None:
        return f"buckets: {name}"
    if name == "coverage":
        return f"buckets: coverage (head covers {head:.0%} of training interactions, torso {torso:.0%})"
    return f"buckets: {name} (head {head:.0%}, torso {torso:.0%}, tail {1 - head - torso:.0%} of items)"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _shown(canonical: str) -> str:
    return "not recorded" if canonical == "null" else canonical
