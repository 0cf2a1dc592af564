import numpy as np

from flexcode_bench.models.backbones.per_window import training_windows


def test_training_windows_cover_every_position_after_the_first_with_left_padding():
    users, windows, targets = training_windows([np.array([5, 6, 7]), np.array([1, 2])], max_history=2)
    assert users.tolist() == [0, 0, 1]
    assert targets.tolist() == [6, 7, 2]
    assert windows.tolist() == [[-1, 5], [5, 6], [-1, 1]]


def test_training_windows_never_contain_the_target_or_later_items():
    rng = np.random.default_rng(0)
    sequences = [rng.permutation(50)[: rng.integers(2, 30)] for _ in range(40)]
    users, windows, targets = training_windows(sequences, max_history=20)
    for user, window, target in zip(users, windows, targets):
        seq = sequences[user].tolist()
        position = seq.index(target)
        assert [i for i in window if i >= 0] == seq[max(0, position - 20) : position]


def test_windows_per_user_keeps_only_the_most_recent_targets():
    users, windows, targets = training_windows([np.arange(6), np.array([9, 8])], max_history=3, per_user=2)
    assert users.tolist() == [0, 0, 1]
    assert targets.tolist() == [4, 5, 8]
    assert windows[0].tolist() == [1, 2, 3]
