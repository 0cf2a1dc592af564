"""What the stages that runs share through a cache cost: item-text embeddings, FlexCode's CF model and codebooks.

A run that finds such a stage cached pays nothing for it, and the run that filled the cache pays it
all; neither is the stage's cost *per model*. Each cache keeps the seconds it took to fill, and while
the runner records a run, every cached stage the run uses notes those seconds here, with whether
this run computed them. The manifest keeps the notes (``diagnostics.shared_stages``), so a cost
figure counts each shared stage once per model instead of zero or several times.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_notes: dict[str, dict] | None = None


@contextmanager
def recording() -> Iterator[dict[str, dict]]:
    """Collect the notes of the shared stages used inside the ``with`` block (one run)."""
    global _notes
    previous, _notes = _notes, {}
    try:
        yield _notes
    finally:
        _notes = previous


def note(stage: str, *, seconds: float | None, computed: bool) -> None:
    """Say that the current run used ``stage``, which took ``seconds`` to fill (None: not recorded)."""
    if _notes is not None:
        _notes[stage] = {"seconds": None if seconds is None else float(seconds), "computed_in_this_run": bool(computed)}
