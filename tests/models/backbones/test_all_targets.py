"""The all-targets backbone: every training target once, each decoder row reading only its prefix, and
the same function as encoding that prefix alone (what the per-window layout and inference compute)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from flexcode_bench.models.backbones.all_targets import ALL_TARGETS, sequence_chunks
from flexcode_bench.models.backbones.per_window import training_windows
from flexcode_bench.models.generator import Generator, GeneratorConfig
from flexcode_bench.tokenizers.vocabulary import BOS, PAD

DEPTH = 3


def test_chunks_overlap_by_one_item_so_every_position_after_the_first_is_a_target_once():
    assert sequence_chunks(5, max_history=20) == [(0, 5)]
    assert sequence_chunks(10, max_history=3) == [(6, 10), (3, 7), (0, 4)]
    assert sequence_chunks(1, max_history=3) == []


@pytest.mark.parametrize("per_user", [None, 2, 7])
def test_an_epoch_holds_exactly_the_per_window_targets_with_the_same_recent_context(per_user):
    rng = np.random.default_rng(0)
    sequences = [rng.permutation(60)[: rng.integers(2, 30)] for _ in range(40)]
    examples = ALL_TARGETS.training_set(sequences, max_history=6, per_user=per_user)
    seen = []
    for batch in examples.batches(np.random.default_rng(1), batch_size=16):
        for user, window, row_targets in zip(batch.users, batch.windows, batch.targets):
            for j, target in enumerate(row_targets):
                if target < 0:
                    continue
                context = [i for i in window[: j + 1] if i >= 0]
                seq = sequences[user].tolist()
                position = seq.index(target)
                assert context == seq[position - len(context) : position]  # the items right before it, in order
                assert 1 <= len(context) <= 6
                seen.append((int(user), int(target)))
    users, _, targets = training_windows(sequences, max_history=6, per_user=per_user)
    assert sorted(seen) == sorted(zip(users.tolist(), targets.tolist()))
    assert examples.n_targets == len(targets)


def net(seed: int = 0, **overrides) -> Generator:
    torch.manual_seed(seed)
    cfg = dict(vocab_size=40, d_model=16, n_heads=2, d_head=8, d_ff=32, n_encoder_layers=2, n_decoder_layers=2,
               dropout=0.0, max_source_len=1 + 8 * DEPTH, encoder_attention="item-causal", code_depth=DEPTH)
    return Generator(GeneratorConfig(**{**cfg, **overrides})).eval()  # fmt: skip


def source(items: list[list[int]], n_slots: int) -> torch.Tensor:
    """A user token (3) then each item's DEPTH tokens, left-padded to ``n_slots`` items."""
    pad = [PAD] * DEPTH * (n_slots - len(items))
    return torch.tensor([[3] + pad + [t for item in items for t in item]])


def codes(n: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(4, 40, size=(n, DEPTH)).tolist()


def row_nll(model, src, rows, row_mask=None) -> torch.Tensor:
    tgt = torch.tensor(rows)
    tgt_in = torch.cat([torch.full_like(tgt[:, :1], BOS), tgt[:, :-1]], dim=1)
    src_mask = src != PAD
    logits = model.decode(tgt_in, model.encode(src, src_mask), src_mask, row_mask)
    return F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), reduction="none").view(tgt.shape).sum(1)


@pytest.mark.parametrize("splits", [1, 4])  # 4 = FlexCode's L+1 rows per target, grouped by target
def test_the_loss_of_every_target_equals_encoding_its_prefix_alone(splits):
    model = net()
    items = codes(7, seed=1)
    n = len(items) - 1  # slots in the source; targets are items 1..6
    src = source(items[:-1], n)
    rows, masks = [], []
    slot = torch.div(torch.arange(src.shape[1]) - 1, DEPTH, rounding_mode="floor")
    for j in range(n):
        for s in range(splits):
            rows.append([(t + s) % 40 for t in items[j + 1]])
            masks.append(slot <= j)
    together = row_nll(model, src, rows, torch.stack(masks))
    alone = torch.stack([
        row_nll(model, source(items[: j + 1], j + 1), rows[j * splits : (j + 1) * splits])
        for j in range(n)
    ]).flatten()  # fmt: skip
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_changing_later_items_never_changes_an_earlier_targets_logits():
    model = net()
    items = codes(6, seed=2)
    later = items[:3] + codes(3, seed=9)
    slot = torch.div(torch.arange(1 + 6 * DEPTH) - 1, DEPTH, rounding_mode="floor")
    masks = torch.stack([slot <= j for j in range(6)])
    rows = [items[1]] * 6
    a = row_nll(model, source(items, 6), rows, masks)
    b = row_nll(model, source(later, 6), rows, masks)
    torch.testing.assert_close(a[:3], b[:3], atol=0, rtol=0)  # rows 0..2 read only items 0..2
    assert not torch.allclose(a[3:], b[3:])


def test_a_row_never_reads_its_own_target_from_the_source():
    """Row j's target is item j+1: changing item j+1 in the source leaves row j's loss unchanged."""
    model = net()
    items = codes(5, seed=3)
    changed = [list(i) for i in items]
    changed[3] = codes(1, seed=11)[0]
    slot = torch.div(torch.arange(1 + 5 * DEPTH) - 1, DEPTH, rounding_mode="floor")
    mask = (slot <= 2)[None]
    a = row_nll(model, source(items, 5), [items[3]], mask)
    b = row_nll(model, source(changed, 5), [items[3]], mask)
    torch.testing.assert_close(a, b, atol=0, rtol=0)
