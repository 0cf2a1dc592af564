"""Spread over seeds of every quantity a test asserts about what a model learned.

A test that checks a learned number (a recall, a loss ratio, a CF share) must hold on any CPU, and
another CPU's float kernels train the same seed to a different model. So each such test keeps a
margin measured over several seeds, and its docstring states the spread. This script measures it,
on one thread, by rerunning each test's own setup with other seeds. Run it again after changing a
model's training, and update the docstrings it names.

    python bench/learned_margins.py [--seeds 0-4] [--only tiger,flexcode,...]

``ATEN_CPU_CAPABILITY=default`` (or ``avx2``) makes torch use other float kernels, as another CPU
would. Prints one line per test and seed; writes bench/out/learned_margins.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the setups live with their tests


def tiger(seed: int) -> dict:
    """tests/baselines/test_tiger.py: test Recall@10 on the text-cluster rule (bar 0.521)."""
    from tests.baselines.test_tiger import train_on_cluster_rule

    run = train_on_cluster_rule(Path(tempfile.mkdtemp()), seed)
    return {"recall@10": run.metrics["test"]["overall"]["recall@10"]}


def flexcode(seed: int) -> dict:
    """tests/models/test_flexcode.py: router CF share, head minus tail (bar 0.1)."""
    from flexcode_bench.models import build_model
    from tests.models.test_flexcode import ROUTER_SHARE_OVERRIDES, popular_cf_rare_text_dataset

    data = popular_cf_rare_text_dataset(Path(tempfile.mkdtemp()))
    share = build_model("flexcode", "smoke", ROUTER_SHARE_OVERRIDES).fit(data, device="cpu", seed=seed)
    share = share.diagnostics["cf_share_by_bucket"]
    return {"head": share["head"], "tail": share["tail"], "head-tail": share["head"] - share["tail"]}


def router_balance(seed: int) -> dict:
    """tests/models/test_flexcode.py: mean CF share under a uniform pull, w_bal 0.1 (> 0.95) and default (0.5-0.75)."""
    from flexcode_bench.models.flexcode import FlexCodeConfig, router_objective
    from flexcode_bench.tokenizers.router import Router

    shares = {}
    for weight in (0.1, FlexCodeConfig.balance_weight):
        torch.manual_seed(seed)
        features = torch.randn(200, 4)
        split_nll = (10.0 - torch.arange(4, dtype=torch.float32)).expand(200, -1)
        router, config = Router(4, 32, 3), FlexCodeConfig(balance_weight=weight)
        optimizer = torch.optim.Adam(router.parameters(), lr=1e-2)
        for _ in range(300):
            optimizer.zero_grad()
            router_objective(router, features, torch.arange(200), split_nll, torch.arange(200), config).backward()
            optimizer.step()
        shares[f"w={weight}"] = router.cf_share(features).mean().item()
    return shares


def sasrec(seed: int) -> dict:
    """tests/baselines/test_sasrec.py: NDCG@10 (bar 0.9), loss ratios, the learned argmax's lead."""
    from baselines.sasrec import SASRec
    from tests.baselines.test_sasrec import N_ITEMS, _config, _test_ndcg10
    from tests.support.synthetic import dataset_from_sequences, next_item_sequences

    data = dataset_from_sequences(next_item_sequences(n_users=200, n_items=N_ITEMS, length=20), N_ITEMS)
    model = SASRec(_config())
    result = model.fit(data, device="cpu", seed=seed)
    scores = model.score([np.array([3, 4, 5]), np.arange(N_ITEMS)])
    lead = [float(np.diff(np.sort(row)[-2:])[0]) for row in scores]
    bce = SASRec(_config(loss="bce", max_epochs=6, patience=6)).fit(data, device="cpu", seed=seed)
    return {"valid": result.best_valid_metric, "test_ndcg@10": _test_ndcg10(model, data),
            "last/first loss": result.epochs[-1].train_loss / result.epochs[0].train_loss,
            "argmax lead": min(lead), "bce last/first loss": bce.epochs[-1].train_loss / bce.epochs[0].train_loss,
            "bce valid": bce.best_valid_metric}  # fmt: skip


def rqvae(seed: int) -> dict:
    """tests/tokenizers/test_rqvae.py: purity, usage, loss ratio, k-means init, dead-code restarts."""
    from flexcode_bench.tokenizers.rqvae import codebook_usage, encode, fit_rqvae
    from tests.tokenizers.test_rqvae import clustered_points, purity, small_config

    x, labels = clustered_points()
    history = []
    codes = encode(fit_rqvae(x, small_config(seed=seed), on_epoch=history.append), x)
    usage = codebook_usage(codes, 32)
    errors = {}
    for kmeans_init in (True, False):
        model = fit_rqvae(x, small_config(epochs=0, kmeans_init=kmeans_init, seed=seed))
        z = model.encoder(torch.from_numpy(x)).detach()
        errors[kmeans_init] = torch.cdist(z, model.quantizer.codebooks[0].detach()).min(1).values.pow(2).mean().item()
    last_epoch_used = {}
    for restart in (True, False):
        epochs = []
        fit_rqvae(x, small_config(epochs=4, kmeans_init=False, dead_code_restart=restart, seed=seed), on_epoch=epochs.append)
        last_epoch_used[restart] = epochs[-1].extra["used_l0"]
    return {"purity": purity(codes[:, 0], labels), "used_l0": usage[0]["used"],
            "min perplexity": min(level["perplexity"] for level in usage),
            "last/first loss": history[-1].train_loss / history[0].train_loss,
            "kmeans/random init error": errors[True] / errors[False],
            "restart used (last epoch)": last_epoch_used[True], "no-restart used (last epoch)": last_epoch_used[False]}  # fmt: skip


def rqkmeans(seed: int) -> dict:
    """tests/tokenizers/test_rqkmeans.py: error by level, first-level purity (bar 0.95)."""
    from flexcode_bench.tokenizers.rqkmeans import ResidualKMeans

    rng = np.random.default_rng(1)  # the test's fixture
    centres, labels = rng.normal(size=(8, 32)) * 4.0, rng.integers(0, 8, 1500)
    x = (centres[labels] + rng.normal(size=(1500, 32))).astype(np.float32)
    rq = ResidualKMeans(levels=4, codebook_size=16, seed=seed).fit(x)
    codes = rq.encode(x)
    errors = [float(((x - rq.reconstruct(codes[:, :level])) ** 2).sum(1).mean()) for level in range(1, 5)]
    first = ResidualKMeans(levels=2, codebook_size=16, seed=seed).fit(x).encode(x)[:, 0]
    purity = sum(np.bincount(labels[first == c]).max() for c in np.unique(first)) / len(x)
    return {"errors": errors, "purity": purity}


def dual_codebook(seed: int) -> dict:
    """tests/tokenizers/test_dual_codebook.py: final alignment loss, aligned < unaligned."""
    from flexcode_bench.tokenizers.dual_codebook import DualCodebookConfig, fit_dual_codebook

    rng = np.random.default_rng(0)  # the test's data
    text = rng.normal(size=(300, 24)).astype(np.float32)
    cf = (text[:, :12] @ rng.normal(size=(12, 8))).astype(np.float32)
    config = DualCodebookConfig(levels=2, codebook_size=8, epochs=15, batch_size=128, seed=seed)
    unaligned = DualCodebookConfig(**{**config.__dict__, "align_weight": 0.0})
    return {"aligned": fit_dual_codebook(text, cf, config).final_align_loss,
            "unaligned": fit_dual_codebook(text, cf, unaligned).final_align_loss}  # fmt: skip


def generator(seed: int) -> dict:
    """tests/models/test_generator.py: last/first loss after 30 steps (bar 0.5)."""
    from tests.models.test_generator import few_step_losses, small

    losses = few_step_losses(small(seed))
    return {"last/first loss": losses[-1] / losses[0]}


MEASURES: dict[str, Callable[[int], dict]] = {
    "tiger": tiger, "flexcode": flexcode, "router_balance": router_balance, "sasrec": sasrec,
    "rqvae": rqvae, "rqkmeans": rqkmeans, "dual_codebook": dual_codebook, "generator": generator,
}  # fmt: skip


def seed_list(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7")
    parser.add_argument("--only", default=",".join(MEASURES), help="comma-separated: " + ", ".join(MEASURES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    capability = torch.backends.cpu.get_cpu_capability()
    results: dict[str, dict[int, dict]] = {}
    for name in args.only.split(","):
        results[name] = {}
        for seed in seed_list(args.seeds):
            results[name][seed] = MEASURES[name](seed)
            print(f"{name} seed={seed} cpu={capability}: {json.dumps(results[name][seed])}", flush=True)
    out = ROOT / "bench" / "out" / "learned_margins.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpu_capability": capability, "torch": torch.__version__, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
