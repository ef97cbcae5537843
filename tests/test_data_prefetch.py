"""Background prefetching: same items, same order, errors surface, threads stop."""

import threading

import pytest
import torch
from hypothesis import given, settings, strategies as st

from streamnets.data import Digits, NoisyFrames
from streamnets.data.prefetch import prefetch
from streamnets.errors import SettingError


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "streamnets-prefetch"]


@settings(max_examples=30, deadline=None)
@given(items=st.lists(st.integers()), depth=st.integers(1, 4))
def test_items_and_order_are_unchanged(items, depth):
    assert list(prefetch(iter(items), depth)) == items
    assert not _prefetch_threads()


def test_seeded_noisy_batches_are_identical_with_prefetching():
    def batches():
        data = NoisyFrames(Digits(train=False), None, frames=3, noise_std=2.0, train=True, seed=7)
        data.set_epoch(2)
        return list(data.iter_batches(50))

    plain = batches()
    data = NoisyFrames(Digits(train=False), None, frames=3, noise_std=2.0, train=True, seed=7)
    data.set_epoch(2)
    fetched = list(prefetch(data.iter_batches(50)))
    assert len(fetched) == len(plain) > 1
    for (x, y), (u, v) in zip(plain, fetched):
        assert torch.equal(x, u) and torch.equal(y, v)


def test_an_error_while_building_is_raised_at_its_item():
    def source():
        yield from range(3)
        raise OSError("corrupt file digits.npz")

    got = []
    with pytest.raises(OSError, match="corrupt file digits.npz"):
        for item in prefetch(source()):
            got.append(item)
    assert got == [0, 1, 2]
    assert not _prefetch_threads()


def test_leaving_the_loop_early_stops_the_thread():
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    items = prefetch(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    closing = threading.Thread(target=items.close)
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive(), "close() hangs"
    assert not _prefetch_threads()
    assert len(produced) <= 3 + 2 + 1  # at most `depth` built ahead (+ one in hand)


@pytest.mark.parametrize("depth", [0, -1, 1.5, True])
def test_depth_must_be_positive_and_is_checked_at_the_call(depth):
    with pytest.raises(SettingError, match=f"prefetch depth must be a whole number >= 1, got {depth!r}"):
        prefetch(iter([1]), depth=depth)
