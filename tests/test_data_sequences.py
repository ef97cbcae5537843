"""NoisyFrames and TrackWindows: noise statistics, reproducibility, windows, DataLoader use."""

import math

import pytest
import torch
from torch.utils.data import DataLoader

from streamnets.data import NoisyFrames, TrackWindows, mix_seed
from streamnets.errors import DataError, SettingError, ShapeError


def images(n=20, c=1, h=6, w=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, h, w, generator=g), torch.arange(n) % 10


def test_shapes_dtypes_and_clipping():
    x, y = images()
    ds = NoisyFrames(x, y, frames=5, noise_std=2.0, train=True)
    f, lab = ds[3]
    assert f.shape == (5, 1, 6, 6) and f.dtype == torch.float32
    assert lab.dtype == torch.int64 and int(lab) == 3
    b, yb = ds.batch(torch.arange(8))
    assert b.shape == (8, 5, 1, 6, 6) and yb.tolist() == list(range(8))
    assert float(b.min()) == 0.0 and float(b.max()) == 1.0  # std 2 clips a lot
    assert len(ds) == 20 and ds.frame_shape == (1, 6, 6)


def test_noise_std_and_clip_fraction_are_statistically_right():
    x = torch.full((64, 1, 16, 16), 0.5)
    y = torch.zeros(64, dtype=torch.int64)
    small = NoisyFrames(x, y, frames=8, noise_std=0.1, train=True, seed=1)
    noise = small.batch(torch.arange(64))[0] - 0.5  # 131072 values, clipping at 5 sigma: none
    assert abs(float(noise.mean())) < 0.002
    assert abs(float(noise.std()) - 0.1) < 0.002
    big = NoisyFrames(x, y, frames=8, noise_std=2.0, train=False, seed=1)
    v = big.batch(torch.arange(64))[0]
    p_low = 0.5 * (1 + math.erf(-0.25 / math.sqrt(2)))  # P(0.5 + 2 z < 0)
    assert abs(float((v == 0).float().mean()) - p_low) < 0.01
    assert abs(float((v == 1).float().mean()) - p_low) < 0.01
    # frames of one sequence carry independent noise
    a, b = (v[:, 0] - 0.5).flatten(), (v[:, 1] - 0.5).flatten()
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.03


def test_noise_is_added_to_the_right_image():
    x, y = images(n=10)
    ds = NoisyFrames(x, y, frames=50, noise_std=0.05, train=False)
    for i in (0, 7):
        mean = ds[i][0].mean(0)
        assert float((mean - x[i]).abs().max()) < 0.05


def test_eval_noise_repeatable_across_calls_orders_and_batching():
    x, y = images()
    ds = NoisyFrames(x, y, frames=4, noise_std=1.0, train=False, seed=7)
    single = torch.stack([ds[i][0] for i in range(20)])
    assert torch.equal(single, torch.stack([ds[i][0] for i in range(20)]))
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    shuffled, labels = ds.batch(perm)
    assert torch.equal(shuffled, single[perm]) and torch.equal(labels, y[perm])
    halves = torch.cat([ds.batch(range(0, 13))[0], ds.batch(range(13, 20))[0]])
    assert torch.equal(halves, single)
    ds.set_epoch(5)  # epochs do not matter in evaluation
    assert torch.equal(ds.batch(range(20))[0], single)
    loader = DataLoader(ds, batch_size=6, shuffle=False)
    assert torch.equal(torch.cat([b for b, _ in loader]), single)
    other = NoisyFrames(x, y, frames=4, noise_std=1.0, train=False, seed=8)
    assert not torch.equal(other.batch(range(20))[0], single)


def test_train_noise_fresh_per_access_and_epoch_reproducible_for_seed():
    x, y = images()
    a = NoisyFrames(x, y, frames=3, noise_std=0.5, train=True, seed=3)
    b = NoisyFrames(x, y, frames=3, noise_std=0.5, train=True, seed=3)
    first = a.batch(range(20))[0]
    assert not torch.equal(a.batch(range(20))[0], first)  # fresh noise for every access
    assert torch.equal(b.batch(range(20))[0], first)  # same seed, same order: bit-identical
    a.set_epoch(1)
    e1 = a.batch(range(20))[0]
    assert not torch.equal(e1, first)
    a.set_epoch(0)
    assert torch.equal(a.batch(range(20))[0], first)  # re-seeding restarts the stream
    b.set_epoch(1)
    b.batch(range(20))
    b.set_epoch(1)
    assert torch.equal(b.batch(range(20))[0], e1)
    c = NoisyFrames(x, y, frames=3, noise_std=0.5, train=True, seed=4)
    assert not torch.equal(c.batch(range(20))[0], first)


def run_epochs(ds, epochs=2):
    out = []
    for e in range(epochs):
        ds.set_epoch(e)
        g = torch.Generator().manual_seed(100 + e)
        for xb, yb in DataLoader(ds, batch_size=8, shuffle=True, generator=g, num_workers=0):
            out.append((xb, yb))
    return out


def test_seeded_training_run_with_dataloader_is_bit_reproducible():
    x, y = images()
    r1 = run_epochs(NoisyFrames(x, y, frames=3, noise_std=1.0, train=True, seed=11))
    r2 = run_epochs(NoisyFrames(x, y, frames=3, noise_std=1.0, train=True, seed=11))
    assert len(r1) == 6
    for (a, la), (b, lb) in zip(r1, r2):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_iter_batches_covers_epoch_and_is_seeded():
    x, y = images(n=21)
    ds = NoisyFrames(x, y, frames=2, noise_std=0.3, train=True, seed=2)
    batches = list(ds.iter_batches(8))
    assert [len(b[1]) for b in batches] == [8, 8, 5]
    assert sorted(torch.cat([b[1] for b in batches]).tolist()) == sorted(y.tolist())
    ds2 = NoisyFrames(x, y, frames=2, noise_std=0.3, train=True, seed=2)
    for (a, la), (b, lb) in zip(batches, ds2.iter_batches(8)):
        assert torch.equal(a, b) and torch.equal(la, lb)
    assert [len(b[1]) for b in ds.iter_batches(8, drop_last=True)] == [8, 8]
    ev = NoisyFrames(x, y, frames=2, noise_std=0.3, train=False)
    assert torch.equal(torch.cat([b[1] for b in ev.iter_batches(5)]), y)  # no shuffle in eval


def test_dataloader_workers_get_different_noise():
    x = torch.full((16, 1, 4, 4), 0.5)
    y = torch.zeros(16, dtype=torch.int64)
    ds = NoisyFrames(x, y, frames=2, noise_std=0.2, train=True, seed=0)
    batches = [b for b, _ in DataLoader(ds, batch_size=4, num_workers=2)]
    assert len(batches) == 4
    assert not torch.equal(batches[0], batches[1])  # worker 0 vs worker 1, same images


def test_uint8_and_dataset_inputs():
    x, y = images()
    u8 = (x * 255).round().to(torch.uint8)
    ds = NoisyFrames(u8, y, frames=2, noise_std=0.0, train=False)
    assert torch.allclose(ds[4][0][1], u8[4].float() / 255)

    class Source:
        data, targets, classes, name = u8, y, [str(i) for i in range(10)], "toy source"

    ds2 = NoisyFrames(Source(), None, frames=2, noise_std=0.0, train=False)
    assert torch.equal(ds2[4][0], ds[4][0]) and ds2.num_classes == 10
    assert ds2.name.startswith("toy source") and "noise std 0" in ds2.name


def test_bad_inputs():
    x, y = images()
    with pytest.raises(ShapeError, match="shape"):
        NoisyFrames(x[0], y, 2, 1.0)
    with pytest.raises(ShapeError, match="20 samples but 3 labels"):
        NoisyFrames(x, y[:3], 2, 1.0)
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        NoisyFrames(x * 255, y, 2, 1.0)
    with pytest.raises(ShapeError, match="labels missing"):
        NoisyFrames(x, None, 2, 1.0)
    with pytest.raises(ShapeError, match="frames must be >= 1"):
        NoisyFrames(x, y, 0, 1.0)
    with pytest.raises(IndexError):
        NoisyFrames(x, y, 2, 1.0)[20]


# --- TrackWindows ------------------------------------------------------------------

def tracks(n=12, length=30):
    """Track k, frame t is a flat image of value t / 100 (no noise reveals the start)."""
    t = torch.arange(length, dtype=torch.float32) / 100
    x = t.view(1, length, 1, 1, 1).expand(n, length, 3, 4, 4).clone()
    return x, torch.arange(n) % 5


def starts_of(batch):
    vals = (batch[:, :, 0, 0, 0] * 100).round().long()
    assert torch.equal(vals - vals[:, :1], torch.arange(vals.shape[1]).expand_as(vals))  # consecutive
    return vals[:, 0]


def test_train_windows_random_start_covering_all_positions():
    x, y = tracks()
    ds = TrackWindows(x, y, frames=8, noise_std=0.0, train=True, seed=0)
    seen = set()
    for _ in range(30):
        b, lab = ds.batch(range(12))
        s = starts_of(b)
        assert torch.equal(s, ds.last_starts) and torch.equal(lab, y)
        seen.update(s.tolist())
    assert seen == set(range(23))  # starts 0..L-T
    one, _ = ds[5]
    assert one.shape == (8, 3, 4, 4)


def test_eval_windows_deterministic_per_index():
    x, y = tracks()
    ds = TrackWindows(x, y, frames=8, noise_std=0.5, train=False, seed=1)
    b1 = ds.batch(range(12))[0]
    assert torch.equal(ds.batch(list(reversed(range(12))))[0].flip(0), b1)
    assert torch.equal(torch.stack([ds[i][0] for i in range(12)]), b1)
    clean = TrackWindows(x, y, frames=8, noise_std=0.0, train=False, seed=1)
    s = starts_of(clean.batch(range(12))[0])
    assert len(set(s.tolist())) > 3  # seeded starts spread over the track
    assert torch.equal(s, starts_of(clean.batch(range(12))[0]))
    first = TrackWindows(x, y, frames=8, noise_std=0.0, train=False, eval_start=0)
    assert starts_of(first.batch(range(12))[0]).tolist() == [0] * 12
    last = TrackWindows(x, y, frames=8, noise_std=0.0, train=False, eval_start="last")
    assert starts_of(last.batch(range(12))[0]).tolist() == [22] * 12


def test_track_windows_noise_and_reproducibility():
    x, y = tracks()
    a = TrackWindows(x, y, frames=30, noise_std=0.5, train=True, seed=9)
    b = TrackWindows(x, y, frames=30, noise_std=0.5, train=True, seed=9)
    ba = a.batch(range(12))[0]
    assert torch.equal(ba, b.batch(range(12))[0])
    assert 0.0 <= float(ba.min()) and float(ba.max()) <= 1.0 and float(ba.std()) > 0.2


def test_track_windows_bad_arguments():
    x, y = tracks(length=10)
    with pytest.raises(ShapeError, match="longer than the tracks"):
        TrackWindows(x, y, frames=11, noise_std=0.5)
    with pytest.raises(ShapeError, match="eval_start 5 must be in 0..3"):
        TrackWindows(x, y, frames=7, noise_std=0.5, eval_start=5)
    with pytest.raises(ShapeError, match=r"\(N, L, C, H, W\)"):
        TrackWindows(x[:, 0], y, frames=2, noise_std=0.5)


def test_mix_seed_is_stable():
    assert mix_seed(0, 1, 2) == mix_seed(0, 1, 2)
    assert len({mix_seed(0, i) for i in range(1000)}) == 1000
    assert 0 <= mix_seed(2**70, -5) < 2**63


def test_to_device_keeps_results_and_moves_batches():
    x, y = images()
    ref = NoisyFrames(x, y, frames=3, noise_std=0.7, train=False, seed=4)
    moved = NoisyFrames(x, y, frames=3, noise_std=0.7, train=False, seed=4).to("cpu")
    assert moved.device == torch.device("cpu")
    assert torch.equal(moved.batch(range(20))[0], ref.batch(range(20))[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_on_cuda_are_reproducible():
    x, y = tracks()
    for train in (True, False):
        a = TrackWindows(x, y, frames=8, noise_std=0.5, train=train, seed=1).to("cuda")
        b = TrackWindows(x, y, frames=8, noise_std=0.5, train=train, seed=1).to("cuda")
        xa, ya = a.batch(range(12))
        assert xa.is_cuda and ya.is_cuda and xa.shape == (12, 8, 3, 4, 4)
        assert torch.equal(xa, b.batch(range(12))[0])
        assert 0.0 <= float(xa.min()) and float(xa.max()) <= 1.0
    ev = NoisyFrames(*images(), frames=4, noise_std=1.0, train=False).to("cuda")
    assert torch.equal(ev.batch([3, 1])[0][1], ev[1][0])


@pytest.mark.parametrize("std", [float("nan"), float("inf"), None, "big"])
def test_noise_std_must_be_a_finite_number(std):
    # before: nan and inf were accepted (nan gave undefined frames, name "std nan"),
    # None and "big" a bare TypeError / ValueError
    x, y = images()
    with pytest.raises(DataError, match="noise_std must be a finite number >= 0"):
        NoisyFrames(x, y, 2, std)


@pytest.mark.parametrize("frames", [2.7, None, "4"])
def test_frames_must_be_an_integer(frames):
    # before: 2.7 silently became 2 frames, None a bare TypeError
    x, y = images()
    with pytest.raises(ShapeError, match="frames must be >= 1 \\(an integer\\)"):
        NoisyFrames(x, y, frames, 1.0)


def test_nan_images_and_fractional_labels_are_refused():
    # before: NaN pixels gave NaN frames, labels 0.5 were silently truncated to 0
    x, y = images()
    x[3, 0, 1, 1] = float("nan")
    with pytest.raises(DataError, match="images contain NaN or infinite values"):
        NoisyFrames(x, y, 2, 1.0)
    x, y = images()
    with pytest.raises(DataError, match="labels must be integer class ids.* 0.5"):
        NoisyFrames(x, y + 0.5, 2, 1.0)
    assert NoisyFrames(x, y.float(), 2, 1.0).labels.dtype == torch.int64  # 3.0 is fine


def test_labels_must_be_ids_of_named_classes():
    # before: -1 was accepted (IndexError in the loss), and class names fewer than the
    # labels gave num_classes 2 here while the trainer counted 6
    from streamnets.data import ArrayDataset

    x, y = images()
    with pytest.raises(DataError, match=r"^NoisyFrames: labels must be class ids 0, 1, ..., got -1"):
        NoisyFrames(x, y - 1, 2, 1.0)
    named = ArrayDataset((x * 255).to(torch.uint8), y, ["a", "b"], "two names")
    with pytest.raises(DataError, match=rf"^NoisyFrames: label {int(y.max())} has no class name: the data "
                                        r"set names 2 classes \(ids 0..1\); give every class a name"):
        NoisyFrames(named, None, 2, 1.0)
    unnamed = ArrayDataset(named.data, y, [], "no names")
    assert NoisyFrames(unnamed, None, 2, 1.0).num_classes == int(y.max()) + 1


def test_negative_batch_indices_are_the_samples_from_the_end():
    # before: batch([-1]) drew evaluation noise for "sample -1", not that of sample
    # n-1, so ds.batch([-1]) differed from ds[-1] and ds[n-1]
    x, y = images()
    ds = NoisyFrames(x, y, 3, 1.0, train=False, seed=4)
    xb, yb = ds.batch([-1, 0, -20])
    assert torch.equal(xb[0], ds[19][0]) and torch.equal(xb[0], ds[-1][0])
    assert torch.equal(xb[2], ds[0][0]) and yb.tolist() == [y[19], y[0], y[0]]
    with pytest.raises(IndexError, match="NoisyFrames: index 20 out of range for 20 samples"):
        ds.batch([0, 20])
    with pytest.raises(IndexError, match="index -21 out of range"):
        ds.batch([-21])
    assert ds.batch([])[0].shape == (0, 3, 1, 6, 6)


def test_non_integer_index_says_how_to_get_several():
    x, y = images()
    ds = NoisyFrames(x, y, 3, 1.0)
    with pytest.raises(TypeError, match=r"index must be an integer, got slice; .* use .batch\(indices\)"):
        ds[0:2]
    assert ds[torch.tensor(3)][1] == y[3]


@pytest.mark.parametrize("bs", [0, -1, 2.5])
def test_iter_batches_batch_size_must_be_positive(bs):
    # before: 0 a bare "range() arg 3 must not be zero", -1 silently no batches at all
    x, y = images()
    with pytest.raises(SettingError, match="iter_batches: batch_size must be a whole number >= 1"):
        list(NoisyFrames(x, y, 2, 1.0).iter_batches(bs))


def test_eval_start_word_and_wrong_kind_of_source():
    x, y = tracks(length=10)
    with pytest.raises(ShapeError, match="eval_start must be 'seeded', 'last' or a frame index 0..3, got 'first'"):
        TrackWindows(x, y, frames=7, noise_std=0.5, eval_start="first")  # before: bare ValueError
    with pytest.raises(ShapeError, match="tracks .* go into TrackWindows"):
        NoisyFrames(x, y, 2, 0.5)
    with pytest.raises(ShapeError, match="single images .* go into NoisyFrames"):
        TrackWindows(x[:, 0], y, 2, 0.5)


def test_training_frames_carry_independent_noise():
    # (the existing check of this looks at evaluation sequences only)
    x = torch.full((64, 1, 16, 16), 0.5)
    ds = NoisyFrames(x, torch.zeros(64, dtype=torch.int64), frames=3, noise_std=0.1, train=True, seed=1)
    v = ds.batch(torch.arange(64))[0] - 0.5  # no clipping at 5 sigma
    for a, b in ((0, 1), (1, 2), (0, 2)):
        r = torch.corrcoef(torch.stack([v[:, a].flatten(), v[:, b].flatten()]))[0, 1]
        assert abs(float(r)) < 0.03, (a, b, float(r))


def test_each_epoch_has_its_own_shuffled_order():
    x = torch.rand(40, 1, 2, 2)
    ds = NoisyFrames(x, torch.arange(40), frames=1, noise_std=0.0, train=True, seed=5)

    def order(epoch):
        ds.set_epoch(epoch)
        return torch.cat([y for _, y in ds.iter_batches(8)]).tolist()

    orders = [order(e) for e in range(3)]
    assert all(sorted(o) == list(range(40)) for o in orders)
    assert len({tuple(o) for o in orders}) == 3
    assert order(1) == orders[1]


def test_seeded_evaluation_windows_start_at_every_position():
    x, y = tracks(n=200, length=6)
    ds = TrackWindows(x, y, frames=3, noise_std=0.0, train=False)
    starts = starts_of(ds.batch(range(200))[0])
    assert torch.equal(starts, ds.last_starts)
    assert set(starts.tolist()) == {0, 1, 2, 3}  # 0..L-T, each about 50 times
