"""FlexCode's dual codebook is fitted once per input and options, and every variant that shares them reads it."""

import dataclasses

import numpy as np

from flexcode_bench import shared_stages
from flexcode_bench.data.prepared import load_prepared
from flexcode_bench.models import build_model
from flexcode_bench.models.dual_codes import CODES_DIR, dual_codes
from flexcode_bench.tokenizers.dual_codebook import DualCodebookConfig
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

CONFIG = DualCodebookConfig(levels=2, codebook_size=4, epochs=3, batch_size=16)


def tables(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(40, 8)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32)


def test_the_second_fit_of_the_same_input_reads_the_first_ones_codes_and_says_so(tmp_path):
    text, cf = tables()
    with shared_stages.recording() as first_notes:
        first = dual_codes(tmp_path, text, cf, CONFIG, device="cpu")
    with shared_stages.recording() as second_notes:
        second = dual_codes(tmp_path, text, cf, CONFIG, device="cpu")

    assert np.array_equal(first.semantic, second.semantic) and np.array_equal(first.cf, second.cf)
    assert (first.usage, first.final_align_loss) == (second.usage, second.final_align_loss)
    assert first_notes["dual_codebook"]["computed_in_this_run"] is True
    assert second_notes["dual_codebook"] == {**first_notes["dual_codebook"], "computed_in_this_run": False}
    assert len(list((tmp_path / CODES_DIR).glob("dual-*.npz"))) == 1


def test_reading_the_cache_gives_what_fitting_again_would(tmp_path):
    # the fit is deterministic, so a run that reads the codes trains on exactly what it would have fitted
    text, cf = tables()
    (tmp_path / "a").mkdir()
    dual_codes(tmp_path / "a", text, cf, CONFIG, device="cpu")
    read = dual_codes(tmp_path / "a", text, cf, CONFIG, device="cpu")
    fitted = dual_codes(tmp_path / "b", text, cf, CONFIG, device="cpu")  # no folder: fitted, never cached

    assert np.array_equal(read.semantic, fitted.semantic) and np.array_equal(read.cf, fitted.cf)
    assert len(list((tmp_path / "a" / CODES_DIR).glob("dual-*.npz"))) == 1 and not (tmp_path / "b").exists()


def test_other_embeddings_or_options_never_read_another_fits_codes(tmp_path):
    text, cf = tables()
    dual_codes(tmp_path, text, cf, CONFIG, device="cpu")
    other_cf = cf.copy()
    other_cf[0, 0] += 1e-3  # one CF value: another CF model's table
    dual_codes(tmp_path, text, other_cf, CONFIG, device="cpu")
    dual_codes(tmp_path, text, cf, dataclasses.replace(CONFIG, align_weight=0.0), device="cpu")
    dual_codes(tmp_path, text, cf, dataclasses.replace(CONFIG, seed=1), device="cpu")

    assert len(list((tmp_path / CODES_DIR).glob("dual-*.npz"))) == 4


def test_flexcode_and_its_fixed_splits_share_one_fit_and_no_align_fits_its_own(tmp_path):
    write_sequences(tmp_path, "tiny", popular_head_sequences())
    data = load_prepared("tiny", tmp_path)
    models = {}
    for name in ("flexcode", "flexcode-fixed-k1", "flexcode-popularity-rule", "flexcode-no-align"):
        models[name] = build_model(name, "smoke", {"codebook_size": 4, "rqvae_epochs": 2, "cf_epochs": 1})
        models[name].build_codes(data, device="cpu", seed=0)

    assert len(list((data.path / CODES_DIR).glob("dual-*.npz"))) == 2  # the aligned fit, and no-align's
    assert np.array_equal(models["flexcode"]._table, models["flexcode-fixed-k1"]._table)
    assert np.array_equal(models["flexcode"]._table, models["flexcode-popularity-rule"]._table)
    assert not np.array_equal(models["flexcode"]._table, models["flexcode-no-align"]._table)
