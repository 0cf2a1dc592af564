"""The README's example model: a first-order Markov chain, one file plus one registry line."""

import numpy as np

from flexcode_bench.config import RunConfig
from flexcode_bench.models import build_model
from flexcode_bench.results import load_run
from flexcode_bench.runner import run_one
from tests.support.prepared_on_disk import write_sequences
from tests.support.synthetic import dataset_from_sequences

CHAIN = [[(user + i) % 10 for i in range(6)] for user in range(20)]  # item i is always followed by item i + 1


def test_markov_ranks_first_the_item_that_followed_the_last_one_in_training():
    model = build_model("markov", "smoke", {})
    model.fit(dataset_from_sequences(CHAIN, n_items=10), device="cpu", seed=0)
    scores = model.score([np.array([3]), np.array([7, 9]), np.array([], dtype=np.int64)])
    assert scores.shape == (3, 10) and scores.dtype == np.float32
    assert scores.argmax(axis=1)[:2].tolist() == [4, 0]


def test_markov_runs_end_to_end_through_the_registry_and_the_protocol(tmp_path):
    write_sequences(tmp_path / "data", "chain", CHAIN)
    outcome = run_one(RunConfig(dataset="chain", model="markov", profile="smoke", data_dir=tmp_path / "data",
                                results_dir=tmp_path / "results"))  # fmt: skip
    assert outcome.status == "finished", outcome.error
    assert load_run(outcome.path).metrics["test"]["overall"]["recall@5"] == 1.0  # the chain is deterministic


def test_the_readmes_adding_a_model_section_shows_this_file_and_its_registry_line_as_they_are():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    section = (repo / "README.md").read_text(encoding="utf-8").split("## Adding a model", 1)[1].split("\n## ", 1)[0]
    code, registry_line = [block.split("\n", 1)[1] for block in section.split("```python")[1:3]]
    code, registry_line = code.split("```")[0], registry_line.split("```")[0]
    assert code.strip() in (repo / "baselines" / "markov.py").read_text(encoding="utf-8")
    assert registry_line.strip() in (repo / "flexcode_bench" / "models" / "__init__.py").read_text(encoding="utf-8")
