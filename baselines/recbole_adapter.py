"""Train any RecBole sequential model on flexbench's exact splits and score it with flexbench's evaluator.

The adapter exports our leave-one-out split as RecBole *benchmark* atomic files. RecBole then trains
on those files with its own ``Trainer`` and stops early on validation NDCG@10 (full ranking).
:meth:`RecBoleModel.score` returns scores in our item-id order, so the evaluator ranks RecBole models
on the same users and targets as every other model (DESIGN §3, §4). RecBole's side effects are
contained in :mod:`baselines.recbole_compat`.

About the export: with ``benchmark_filename`` set, RecBole 1.2.1's ``SequentialDataset`` skips its
prefix augmentation. Each row must therefore already be a (history, target) pair:
``item_id_list:token_seq`` plus ``item_id:token``. We write the same rows RecBole's augmentation
would produce on our split: one per training prefix, and one valid and one test row per user.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from baselines import recbole_compat
from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.errors import ConfigError, DataFormatError, UnknownNameError
from flexcode_bench.recommender import EpochReport, FitResult, OnEpoch
from flexcode_bench.registry import did_you_mean
from flexcode_bench.seeding import seed_everything

DATASET_TOKEN = "flexbench"  # neutral name: RecBole would load its own presets for e.g. "ml-100k"
VALID_METRIC = "NDCG@10"

# Sequential models that cannot run on (history -> next item) data alone, with the reason.
UNSUPPORTED = {
    **dict.fromkeys(
        ["Caser", "FOSSIL", "FPMC", "HGN", "HRM", "NPE", "SHAN", "TransRec"],
        "it needs the user id at scoring time, which ScoringRecommender.score does not receive",
    ),
    **dict.fromkeys(["DIN", "DIEN"], "it is a click-through-rate model that needs labels, not next-item ranking"),
    **dict.fromkeys(
        ["FDSA", "SASRecF", "GRU4RecF", "GRU4RecKG", "KSR", "S3Rec"],
        "it needs item features or a pre-training stage that the export does not provide",
    ),
}


@dataclass
class RecBoleConfig:
    """What the adapter passes to RecBole; ``overrides`` holds model hyper-parameters by RecBole's names."""

    model: str
    epochs: int
    train_batch_size: int = 256
    eval_batch_size: int = 1024
    learning_rate: float = 1e-3
    stopping_step: int = 10
    max_seq_length: int = 50
    overrides: dict[str, object] = field(default_factory=dict)  # hidden_size, n_layers, n_heads, loss_type, ...

    @classmethod
    def from_profile(cls, model: str, profile: str = "quick", **changes: Any) -> RecBoleConfig:
        """A profile's settings for ``model``, keeping only the hyper-parameters that model has."""
        if profile not in PROFILES:
            raise UnknownNameError(f"unknown profile {profile!r}" + did_you_mean(profile, list(PROFILES)))
        model = resolve_model(model)
        known = recbole_parameters(model)
        base = PROFILES[profile]
        overrides = {k: v for k, v in base.overrides.items() if k in known} | changes.pop("overrides", {})
        return replace(base, model=model, overrides=overrides, **changes)


# Keys a model does not use are ignored by RecBole, so one profile serves SASRec, GRU4Rec, BERT4Rec...
PROFILES = {
    "smoke": RecBoleConfig(
        model="SASRec",
        epochs=1,
        train_batch_size=256,
        stopping_step=1,
        max_seq_length=20,
        overrides={
            "hidden_size": 16,
            "inner_size": 32,
            "n_layers": 1,
            "n_heads": 1,
            "embedding_size": 16,
            "num_layers": 1,
            "loss_type": "CE",
        },
    ),
    "quick": RecBoleConfig(
        model="SASRec",
        epochs=5,
        stopping_step=2,
        overrides={
            "hidden_size": 64,
            "inner_size": 128,
            "n_layers": 2,
            "n_heads": 2,
            "embedding_size": 64,
            "loss_type": "CE",
        },
    ),
    "cpu": RecBoleConfig(model="SASRec", epochs=100, stopping_step=5,
                         overrides={"hidden_size": 64, "inner_size": 128, "n_layers": 2, "n_heads": 2,
                                    "embedding_size": 64, "hidden_dropout_prob": 0.5, "loss_type": "CE"}),
    "paper": RecBoleConfig(model="SASRec", epochs=200, stopping_step=10, overrides={"loss_type": "CE"}),
}


def sequential_models() -> dict[str, type]:
    """RecBole's sequential model classes by name (imports RecBole)."""
    recbole_compat.import_recbole()
    import recbole.model.sequential_recommender as seq
    from recbole.model.abstract_recommender import SequentialRecommender

    return {
        name: obj
        for name, obj in vars(seq).items()
        if isinstance(obj, type) and issubclass(obj, SequentialRecommender) and obj is not SequentialRecommender
    }


def resolve_model(name: str) -> str:
    """RecBole's spelling of a sequential model name (case-insensitive); clear errors otherwise."""
    names = sorted(sequential_models())
    by_lower = {n.lower(): n for n in names}
    canonical = by_lower.get(name.lower())
    if canonical is None:
        raise UnknownNameError(
            f"unknown RecBole sequential model {name!r}" + did_you_mean(name, names),
            hint="any class in recbole.model.sequential_recommender, e.g. SASRec, GRU4Rec, BERT4Rec",
        )
    if canonical in UNSUPPORTED:
        raise ConfigError(f"RecBole model {canonical!r} is not supported by the adapter: {UNSUPPORTED[canonical]}")
    return canonical


def recbole_parameters(model: str) -> set[str]:
    """The option names RecBole reads for ``model``: its model YAML plus RecBole's overall settings."""
    import yaml

    properties = Path(recbole_compat.import_recbole().__file__).parent / "properties"
    names: set[str] = set()
    for path in (properties / "overall.yaml", properties / "model" / f"{model}.yaml"):
        if path.is_file():
            names |= set(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return names


def build(model: str, profile: str, overrides: Mapping[str, Any], *, workdir: Path | None = None) -> RecBoleModel:
    """Model factory for ``recbole:<Name>``: defaults < profile < overrides.

    An override that names a :class:`RecBoleConfig` field sets that field; any other key must be one of
    the model's RecBole options (e.g. ``hidden_size``) and goes to ``overrides``. Typos are errors.
    """
    config = RecBoleConfig.from_profile(model, profile)
    fields = {f.name for f in dataclasses.fields(RecBoleConfig)} - {"model", "overrides"}
    known = recbole_parameters(config.model) - fields
    top: dict[str, Any] = {}
    hyper = dict(config.overrides)
    for key, value in overrides.items():
        if key in fields:
            top[key] = value
        elif key in known:
            hyper[key] = value
        else:
            raise ConfigError(
                f"RecBole {config.model}: unknown option {key!r}" + did_you_mean(key, sorted(fields | known))
            )
    return RecBoleModel(replace(config, **top, overrides=hyper), workdir=workdir)


def export_atomic(data: PreparedDataset, out_dir: Path, *, max_seq_length: int = 50) -> Path:
    """Write our split as RecBole benchmark files under ``out_dir/flexbench/``; returns that folder.

    Files: ``flexbench.{train,valid,test}.inter`` with ``user_id:token``, ``item_id_list:token_seq``
    (the last ``max_seq_length`` items before the target), ``item_id:token`` (the target) and
    ``timestamp:float`` (the target's position), plus ``flexbench.item``, which lists every item
    so RecBole's vocabulary holds the whole catalogue. Tokens are our 0-based ids as strings.
    """
    folder = Path(out_dir) / DATASET_TOKEN
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"

    def row(user: int, history: np.ndarray, target: int) -> str:
        tail = " ".join(map(str, history[-max_seq_length:].tolist()))
        return f"{user}\t{tail}\t{target}\t{len(history)}\n"

    train_rows = [
        row(u, seq[:i], int(seq[i])) for u, seq in enumerate(data.train_sequences) for i in range(1, len(seq))
    ]
    splits = {"train": train_rows}
    for split in ("valid", "test"):
        histories, targets = data.history(split), data.targets(split)
        if any(len(h) == 0 for h in histories):
            raise DataFormatError(f"dataset {data.name!r}: a user has an empty {split} history; RecBole needs one item")
        splits[split] = [row(u, h, int(t)) for u, (h, t) in enumerate(zip(histories, targets))]
    for split, rows in splits.items():
        (folder / f"{DATASET_TOKEN}.{split}.inter").write_text(header + "".join(rows), encoding="utf-8")
    items = "".join(f"{i}\n" for i in range(data.n_items))
    (folder / f"{DATASET_TOKEN}.item").write_text("item_id:token\n" + items, encoding="utf-8")
    return folder


def recbole_config_dict(config: RecBoleConfig, data_path: Path, checkpoint_dir: Path, seed: int) -> dict:
    """The ``config_dict`` handed to RecBole's ``Config`` (no YAML files): our settings plus the model's."""
    return {**_adapter_settings(config, data_path, checkpoint_dir, seed), **config.overrides}


def _adapter_settings(config: RecBoleConfig, data_path: Path, checkpoint_dir: Path, seed: int) -> dict:
    """The options that define the data, the protocol and the schedule; ``overrides`` may not change them."""
    ce = config.overrides.get("loss_type", "CE") == "CE"
    return {
        "benchmark_filename": ["train", "valid", "test"],
        "data_path": str(data_path),
        "load_col": {"inter": ["user_id", "item_id_list", "item_id", "timestamp"], "item": ["item_id"]},
        "alias_of_item_id": ["item_id_list"],  # histories and targets share one item vocabulary
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "MAX_ITEM_LIST_LENGTH": config.max_seq_length,
        "eval_args": {"order": "TO", "mode": "full", "group_by": "user", "split": {"LS": "valid_and_test"}},
        "metrics": ["Recall", "NDCG", "MRR"],
        "topk": [5, 10, 20],
        "valid_metric": VALID_METRIC,
        "epochs": config.epochs,
        "train_batch_size": config.train_batch_size,
        "eval_batch_size": config.eval_batch_size,
        "learning_rate": config.learning_rate,
        "stopping_step": config.stopping_step,
        "train_neg_sample_args": None if ce else {"distribution": "uniform", "sample_num": 1},
        "seed": seed,
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": str(checkpoint_dir),
        "save_dataset": False,
        "save_dataloaders": False,
    }


class RecBoleData(NamedTuple):
    config: Any  # recbole.config.Config
    dataset: Any  # recbole SequentialDataset (the whole, before the split)
    train: Any  # the three RecBole data loaders
    valid: Any
    test: Any


def build_recbole_data(
    config: RecBoleConfig, data: PreparedDataset, workdir: Path, *, device: str, seed: int
) -> RecBoleData:
    """Export ``data`` and load it back through RecBole's own Config, dataset and data preparation.

    Call inside :func:`baselines.recbole_compat.session`.
    """
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation

    model = resolve_model(config.model)
    data_path = export_atomic(data, workdir / "atomic", max_seq_length=config.max_seq_length).parent
    checkpoint_dir = workdir / "checkpoints"
    for stale in checkpoint_dir.glob(f"{DATASET_TOKEN}-*.pth"):  # RecBole would reuse a cached dataset blindly
        stale.unlink()
    rb_config = Config(
        model=model, dataset=DATASET_TOKEN, config_dict=recbole_config_dict(config, data_path, checkpoint_dir, seed)
    )
    rb_config["device"] = torch.device(device)
    rb_config["use_gpu"] = device.startswith("cuda")
    dataset = create_dataset(rb_config)
    train, valid, test = data_preparation(rb_config, dataset)
    return RecBoleData(rb_config, dataset, train, valid, test)


def item_index(dataset: Any, n_items: int) -> np.ndarray:
    """RecBole's internal id of each of our items (int64, length n_items); internal 0 is RecBole's padding."""
    token2id = dataset.field2token_id[dataset.iid_field]
    missing = [i for i in range(n_items) if str(i) not in token2id]
    if missing or len(token2id) != n_items + 1:
        raise DataFormatError(
            f"RecBole's item vocabulary ({len(token2id) - 1} items) does not match ours ({n_items}); "
            f"missing e.g. {missing[:5]}"
        )
    return np.array([token2id[str(i)] for i in range(n_items)], dtype=np.int64)


def split_in_our_ids(loader: Any) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(users, targets, histories) of a RecBole split, translated back to our ids, in row order."""
    ds = loader._dataset
    inter = ds.inter_feat

    def to_token(field: str, ids: np.ndarray) -> np.ndarray:
        return ds.id2token(field, ids).astype(np.int64)

    users = to_token(ds.uid_field, inter[ds.uid_field].numpy())
    targets = to_token(ds.iid_field, inter[ds.iid_field].numpy())
    lists, lengths = inter[ds.item_id_list_field].numpy(), inter[ds.item_list_length_field].numpy()
    histories = [to_token(ds.iid_field, seq[:n]) for seq, n in zip(lists, lengths)]
    return users, targets, histories


def check_splits(rb: RecBoleData, data: PreparedDataset, max_seq_length: int) -> None:
    """Raise unless RecBole's train size and valid/test users, targets and histories equal ours."""
    n_train = sum(max(len(s) - 1, 0) for s in data.train_sequences)
    if len(rb.train._dataset) != n_train:
        raise DataFormatError(f"RecBole has {len(rb.train._dataset)} training rows, flexbench's split gives {n_train}")
    for split, loader in (("valid", rb.valid), ("test", rb.test)):
        users, targets, histories = split_in_our_ids(loader)
        order = np.argsort(users, kind="stable")
        if not np.array_equal(users[order], np.arange(data.n_users)):
            raise DataFormatError(f"RecBole's {split} users differ from flexbench's")
        if not np.array_equal(targets[order], data.targets(split)):
            raise DataFormatError(f"RecBole's {split} targets differ from flexbench's")
        ours = data.history(split)
        if any(not np.array_equal(histories[i], ours[u][-max_seq_length:]) for i, u in enumerate(users)):
            raise DataFormatError(f"RecBole's {split} histories differ from flexbench's")


class RecBoleModel:
    """A RecBole sequential model behind flexbench's :class:`~flexcode_bench.recommender.ScoringRecommender`."""

    def __init__(self, config: RecBoleConfig, workdir: Path | None = None) -> None:
        protected = sorted(set(config.overrides) & set(_adapter_settings(config, Path(), Path(), 0)))
        if protected:
            raise ConfigError(
                f"RecBole options {protected} are set by the adapter to keep flexbench's protocol",
                hint="set epochs, batch sizes, learning_rate, stopping_step and max_seq_length on RecBoleConfig",
            )
        self.config = replace(config, model=resolve_model(config.model))
        self.workdir = Path(workdir) if workdir is not None else None
        self.recbole_model: Any = None
        self.recbole_data: RecBoleData | None = None  # RecBole's own config, dataset and loaders, for cross-checks
        self.item_index: np.ndarray | None = None  # our item id -> RecBole internal id
        self._device = "cpu"

    def fit(self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None) -> FitResult:
        """Train with RecBole's Trainer on our split; keep the best-validation checkpoint.

        Epochs are 0-based as in RecBole; an EpochReport's ``seconds`` covers training plus validation
        and its ``train_loss`` is the mean over batches. Files go to ``workdir``; without one, to a
        temporary folder that is removed after a successful fit (kept after a failure, for its log).
        """
        from recbole.utils import get_model, get_trainer, init_seed

        workdir = self.workdir or Path(tempfile.mkdtemp(prefix="flexbench-recbole-"))  # removed after a success
        seed_everything(seed)
        with recbole_compat.session(workdir) as log_path:
            rb = build_recbole_data(self.config, data, workdir, device=device, seed=seed)
            check_splits(rb, data, self.config.max_seq_length)
            index = item_index(rb.dataset, data.n_items)
            init_seed(seed, True)
            model = get_model(self.config.model)(rb.config, rb.train._dataset).to(device)
            trainer = get_trainer(rb.config["MODEL_TYPE"], self.config.model)(rb.config, model)
            epochs = _hook_epochs(trainer, len(rb.train), on_epoch)
            trainer.fit(rb.train, rb.valid, verbose=True, saved=True, show_progress=False)
            checkpoint = recbole_compat.load_checkpoint(Path(trainer.saved_model_file), device)
            model.load_state_dict(checkpoint["state_dict"])
            model.load_other_parameter(checkpoint.get("other_parameter"))
            test_result = trainer.evaluate(rb.test, load_best_model=False, show_progress=False)
        model.eval()
        self.recbole_model, self.recbole_data, self.item_index, self._device = model, rb, index, device
        files = {"checkpoint": str(trainer.saved_model_file), "log_file": str(log_path)}
        if self.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
            files = {}
        return FitResult(
            epochs=epochs,
            best_epoch=int(checkpoint["epoch"]),
            best_valid_metric=float(trainer.best_valid_score),
            diagnostics={
                "recbole_model": self.config.model,
                "recbole_valid_metric": VALID_METRIC,
                "recbole_best_valid": {k: float(v) for k, v in (trainer.best_valid_result or {}).items()},
                # RecBole's own evaluator on the test split, for cross-checks against flexbench's
                "recbole_test": {k: float(v) for k, v in (test_result or {}).items()},
                "train_rows": len(rb.train._dataset),
                **files,
            },
        )

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [len(histories), n_items]: RecBole's ``full_sort_predict``, columns in our item order."""
        import torch
        from recbole.data.interaction import Interaction

        if self.recbole_model is None or self.item_index is None:
            raise RuntimeError("RecBoleModel.score called before fit")
        model, index, max_len = self.recbole_model, self.item_index, self.config.max_seq_length
        out = np.empty((len(histories), len(index)), dtype=np.float32)
        for start in range(0, len(histories), self.config.eval_batch_size):
            batch = histories[start : start + self.config.eval_batch_size]
            seqs = np.zeros((len(batch), max_len), dtype=np.int64)  # left-aligned, 0-padded, as RecBole stores them
            lengths = np.ones(len(batch), dtype=np.int64)  # an empty history scores as a lone padding token
            for row, history in enumerate(batch):
                tail = index[np.asarray(history, dtype=np.int64)[-max_len:]]
                seqs[row, : len(tail)] = tail
                lengths[row] = max(len(tail), 1)
            inter = Interaction({model.ITEM_SEQ: torch.from_numpy(seqs), model.ITEM_SEQ_LEN: torch.from_numpy(lengths)})
            with torch.no_grad():
                scores = model.full_sort_predict(inter.to(self._device))  # [B, 1 + n_items], column 0 = padding
            out[start : start + len(batch)] = (
                scores.view(len(batch), -1)[:, torch.from_numpy(index)].float().cpu().numpy()
            )
        return out


def _hook_epochs(trainer: Any, n_batches: int, on_epoch: OnEpoch | None) -> list[EpochReport]:
    """Wrap the trainer's per-epoch methods (instance attributes only) to collect EpochReports."""
    reports: list[EpochReport] = []
    current = {"epoch": 0, "t": time.perf_counter()}
    train_epoch, valid_epoch = trainer._train_epoch, trainer._valid_epoch

    def _train(train_data: Any, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
        current.update(epoch=epoch_idx, t=time.perf_counter())
        return train_epoch(train_data, epoch_idx, *args, **kwargs)

    def _valid(*args: Any, **kwargs: Any) -> Any:
        valid_score, valid_result = valid_epoch(*args, **kwargs)
        epoch = current["epoch"]
        loss = trainer.train_loss_dict[epoch]  # RecBole's sum over batches
        report = EpochReport(
            epoch=epoch,
            train_loss=float(loss) / max(n_batches, 1),
            valid_metric=float(valid_score),
            seconds=time.perf_counter() - current["t"],
            extra={f"valid_{k}": float(v) for k, v in valid_result.items()},
        )
        reports.append(report)
        if on_epoch is not None:
            on_epoch(report)
        return valid_score, valid_result

    trainer._train_epoch, trainer._valid_epoch = _train, _valid
    return reports
