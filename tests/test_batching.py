"""Data order: a pure function of (seed, step), so resuming needs nothing but the step."""

import pytest

from antibody_cli.errors import AntibodyError
from antibody_cli.jobs import mixed_batches
from antibody_cli.batching import batch_indices, length_sorted_batches


def test_each_epoch_visits_every_sample_once_and_order_is_reproducible():
    first_epoch = [i for t in range(5) for i in batch_indices(10, 2, seed=3, step=t)]
    assert sorted(first_epoch) == list(range(10))
    assert batch_indices(10, 4, seed=3, step=7) == batch_indices(10, 4, seed=3, step=7)
    assert batch_indices(10, 4, seed=3, step=0) != batch_indices(10, 4, seed=4, step=0)
    assert len(batch_indices(3, 8, seed=0, step=0)) == 8  # batches wider than the data wrap into the next epoch


def test_benign_share_fixes_the_mix_of_every_alignment_batch():
    harmful = [True] * 30 + [False] * 10
    batch = mixed_batches(harmful, batch_size=8, benign_share=0.75, seed=0)
    for t in range(6):
        indices = batch(t)
        assert len(indices) == 8 and sum(not harmful[i] for i in indices) == 6
    uniform = mixed_batches(harmful, batch_size=8, benign_share=None, seed=0)
    assert uniform(2) == batch_indices(40, 8, seed=0, step=2)
    with pytest.raises(AntibodyError, match="benign_share"):
        mixed_batches([True] * 5, batch_size=4, benign_share=0.5, seed=0)


def test_length_sorted_batches_cover_every_sample_once_shortest_first():
    lengths = [7, 3, 9, 1, 3, 8, 2]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [len(b) for b in batches] == [3, 3, 1]
    spans = [[lengths[i] for i in b] for b in batches]
    assert all(max(a) <= min(b) for a, b in zip(spans, spans[1:]))  # no batch mixes short and long
