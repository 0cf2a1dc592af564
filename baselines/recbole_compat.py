"""Every workaround RecBole needs, in one place; only :mod:`baselines.recbole_adapter` imports this.

Measured on RecBole 1.2.1, torch 2.13 (CPU), numpy 1.26, pandas 2.x, setuptools 80, Python 3.11.
Each shim is scoped as narrowly as the problem allows:

1. **numpy < 2, pandas < 3** (pinned in ``pyproject.toml``). RecBole's metrics use ``np.float``
   and ``np.bool``; its ``Config`` re-creates those removed aliases on the numpy module itself
   (``Config.compatibility_settings``). We leave that in place because RecBole's evaluator needs it.
2. **setuptools < 81** (pinned). ``recbole.quick_start`` imports ray, which imports
   ``pkg_resources``. We never import ``quick_start``, so ray is never loaded here.
3. **Anomaly detection.** Importing ``recbole.model.sequential_recommender`` runs
   ``torch.autograd.set_detect_anomaly(True)`` at import time (``sine.py``), which slows every
   backward pass in the whole process. :func:`import_recbole` imports the package once and
   switches it off again straight away.
4. **Checkpoints and ``weights_only``.** RecBole pickles its ``Config`` into every checkpoint, so
   ``torch.load``'s ``weights_only=True`` default (torch >= 2.6) rejects the files. We never let
   RecBole reload a checkpoint. :func:`load_checkpoint` reloads one with ``weights_only=False``,
   and only for files RecBole wrote into our own work dir. There is no global torch.load patch
   and no ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``.
5. **Side effects of ``Config``** (scoped by :func:`session`):
   - ``Config`` parses ``sys.argv`` for ``--key=value`` pairs, so flexbench's own flags would leak
     into RecBole. It gets an empty argv instead.
   - ``Config`` overwrites ``CUDA_VISIBLE_DEVICES``. We initialise CUDA first, so the driver has
     already read the real value, and restore the variable afterwards.
6. **Logging and files in the CWD** (scoped by :func:`session`). RecBole logs through the *root*
   logger. During a session, records raised from RecBole's own code go to ``recbole.log`` in the
   work dir, not to the console. Other records keep their usual route. Python warnings from
   RecBole (pandas FutureWarnings and similar) go to the same file. ``Trainer`` would also create
   a TensorBoard ``SummaryWriter`` under ``./log_tensorboard``; it gets a no-op writer instead.
   flexbench records its own training curve.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

LOG_FILE = "recbole.log"

_imported: ModuleType | None = None


def import_recbole() -> ModuleType:
    """Import RecBole and its sequential models once, with anomaly detection switched back off.

    Idempotent. Returns the ``recbole`` package.
    """
    global _imported
    if _imported is not None:
        return _imported
    import torch

    was_enabled = torch.is_anomaly_enabled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # import-time Deprecation/FutureWarnings from RecBole's deps
        import recbole
        import recbole.config
        import recbole.data
        import recbole.model.sequential_recommender  # runs set_detect_anomaly(True)
        import recbole.trainer
        import recbole.utils
    torch.autograd.set_detect_anomaly(was_enabled)
    _imported = recbole
    return recbole


def load_checkpoint(path: Path, device: Any) -> dict:
    """Load a checkpoint RecBole wrote into our work dir (it pickles its Config, hence weights_only=False)."""
    import torch

    return torch.load(path, map_location=device, weights_only=False)


class _NullWriter:
    """Stands in for TensorBoard's SummaryWriter: accepts every call and does nothing."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


class _RecBoleRouter(logging.Handler):
    """Root-logger handler for a session: RecBole's records go to a file, the rest go where they went before."""

    def __init__(self, file_handler: logging.Handler, previous: list[logging.Handler], previous_level: int) -> None:
        super().__init__(logging.NOTSET)
        self.file_handler = file_handler
        self.previous = previous
        self.previous_level = previous_level
        self.recbole_dir = os.path.dirname(import_recbole().__file__)

    def emit(self, record: logging.LogRecord) -> None:
        if record.pathname.startswith(self.recbole_dir):
            self.file_handler.handle(record)
        elif record.levelno >= self.previous_level:
            for handler in self.previous or ([] if _has_own_handler(record.name) else [logging.lastResort]):
                if handler is not None and record.levelno >= handler.level:
                    handler.handle(record)


def _has_own_handler(name: str) -> bool:
    """Whether a logger below the root (or one of its parents) has a handler, as logging checks before lastResort."""
    logger: logging.Logger | None = logging.getLogger(name)
    while logger is not None and logger is not logging.getLogger():
        if logger.handlers:
            return True
        logger = logger.parent if logger.propagate else None
    return False


@contextlib.contextmanager
def session(workdir: Path) -> Iterator[Path]:
    """Run RecBole code with its side effects contained; yields the log file path.

    Inside the block: RecBole logs and warnings go to ``<workdir>/recbole.log``, ``sys.argv`` is
    empty to ``Config``, ``CUDA_VISIBLE_DEVICES`` is restored on exit, and TensorBoard is a no-op.
    """
    import torch

    recbole = import_recbole()
    from recbole.utils.logger import RemoveColorFilter

    trainer_module = sys.modules["recbole.trainer.trainer"]
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / LOG_FILE
    file_handler = logging.FileHandler(log_path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s  %(message)s"))
    file_handler.addFilter(RemoveColorFilter())  # RecBole colours its messages with ANSI codes

    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_argv = sys.argv
    saved_cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    saved_writer = trainer_module.get_tensorboard
    torch.cuda.is_available()  # the driver reads the real CUDA_VISIBLE_DEVICES before Config overwrites it

    root.handlers = [_RecBoleRouter(file_handler, saved_handlers, saved_level)]
    root.setLevel(logging.INFO)
    sys.argv = saved_argv[:1]
    trainer_module.get_tensorboard = lambda logger: _NullWriter()
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield log_path
    finally:
        recbole_dir = os.path.dirname(recbole.__file__)
        for w in caught:
            if w.filename.startswith(recbole_dir):
                message = f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
                file_handler.handle(
                    logging.makeLogRecord({"levelno": logging.WARNING, "levelname": "WARNING", "msg": message})
                )
            else:  # not RecBole's: let the usual filters decide, as if it had never been caught
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        sys.argv = saved_argv
        if saved_cuda is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved_cuda
        trainer_module.get_tensorboard = saved_writer
        file_handler.close()
