"""Offline stand-ins (Digits, Shapes, Signs) and the registry (load, default_for)."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from streamnets.data import (NAMES, SHAPE_CLASSES, SIGN_CLASSES, Digits, NoisyFrames, Shapes, Signs,
                             TrackWindows, default_for, default_splits, load, paths, write_idx)
from streamnets.errors import DataError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensor ops: one intra-op thread is faster, and far faster on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def fit_score(xtr, ytr, xte, yte):
    with warnings.catch_warnings(), threadpool_limits(1):  # BLAS threads only slow this down
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200, C=0.1))
        clf.fit(xtr, ytr)
    return clf.score(xte, yte)


# --- Digits -------------------------------------------------------------------------

def test_digits_split_shapes_and_balance():
    tr, te = Digits(train=True), Digits(train=False)
    assert (len(tr), len(te)) == (1437, 360)
    assert tr.data.shape == (1437, 1, 28, 28) and tr.data.dtype == torch.uint8
    assert tr.targets.dtype == torch.int64 and tr.classes == [str(i) for i in range(10)]
    counts = torch.bincount(te.targets, minlength=10)
    assert int(counts.min()) >= 35 and int(counts.max()) <= 37  # stratified
    assert int(tr.data.max()) == 255 and int(tr.data.min()) == 0
    assert "scikit-learn" in tr.name and "MNIST" in tr.name
    # train and test are disjoint parts of the 1797 digits
    from sklearn.datasets import load_digits
    assert len(tr) + len(te) == len(load_digits().target)
    assert torch.equal(Digits(train=False).data, te.data)
    x, y = te[0]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and isinstance(y, int)


def test_digits_upsampling_preserves_the_digit():
    from sklearn.datasets import load_digits
    d = load_digits()
    ds = Digits(train=True, seed=0)
    # downsampled back to 8x8 (values 0..16), the nearest original digit has the same label
    back = F.interpolate(ds.data[:100].float() / 255 * 16, size=(8, 8), mode="area")[:, 0]
    orig = torch.from_numpy(d.images).float()
    dist = torch.cdist(back.flatten(1), orig.flatten(1))
    assert torch.equal(torch.from_numpy(d.target)[dist.argmin(1)], ds.targets[:100])
    # the mean image of the 0s is a ring: dark centre, bright around it
    zero = ds.data[ds.targets == 0].float().mean(0)[0]
    assert float(zero[12:16, 12:16].mean()) < 0.5 * float(zero[4:24, 4:24].max())


# --- Shapes -------------------------------------------------------------------------

def test_shapes_layout_balance_and_determinism():
    a = Shapes(train=True, n=200, seed=5)
    assert a.data.shape == (200, 3, 32, 32) and a.data.dtype == torch.uint8
    assert torch.bincount(a.targets, minlength=10).tolist() == [20] * 10
    assert a.classes == SHAPE_CLASSES and len(set(SHAPE_CLASSES)) == 10
    assert torch.equal(Shapes(train=True, n=200, seed=5).data, a.data)
    assert not torch.equal(Shapes(train=True, n=200, seed=6).data, a.data)
    assert not torch.equal(Shapes(train=False, n=200, seed=5).data, a.data)
    assert "CIFAR-10" in a.name
    # colourful, using the whole range
    assert float(a.data.float().std()) > 40


def colour_invariant(x, pool=4):
    """Gradient magnitude summed over channels, average-pooled: a simple feature."""
    x = x.float() / 255
    gx = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1))
    gy = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    m = (gx ** 2 + gy ** 2).sum(1, keepdim=True).sqrt()
    return F.avg_pool2d(m, pool).flatten(1).numpy()


def test_shapes_are_learnable_by_a_linear_classifier():
    tr, te = Shapes(train=True, n=600, seed=0), Shapes(train=False, n=300, seed=0)
    acc = fit_score(colour_invariant(tr.data), tr.targets.numpy(), colour_invariant(te.data), te.targets.numpy())
    assert acc > 0.8, acc  # chance is 0.1
    # the harder first version (difficulty 1) is harder for the same classifier
    tr, te = Shapes(train=True, n=600, seed=0, difficulty=1), Shapes(train=False, n=300, seed=0, difficulty=1)
    hard = fit_score(colour_invariant(tr.data), tr.targets.numpy(), colour_invariant(te.data), te.targets.numpy())
    assert 0.3 < hard < acc - 0.2, (hard, acc)


def test_shapes_difficulty():
    easy = Shapes(train=False, n=100, seed=3)
    assert easy.difficulty == 0.0 and "difficulty" not in easy.name
    hard = Shapes(train=False, n=100, seed=3, difficulty=1)
    assert torch.equal(hard.targets, easy.targets) and not torch.equal(hard.data, easy.data)
    assert "difficulty 1" in hard.name
    # by default each shape is lighter than its background: the brightest pixels are the shape's
    x = easy.data.float() / 255
    centre = x[..., 14:18, 14:18].mean(dim=(1, 2, 3))  # every shape but ring and frame covers the centre
    solid = ~torch.isin(easy.targets, torch.tensor([SHAPE_CLASSES.index("ring"), SHAPE_CLASSES.index("frame")]))
    assert bool((centre[solid] > x[solid].mean(dim=(1, 2, 3))).all())
    for bad in (-0.1, 1.5):
        with pytest.raises(DataError, match="difficulty must be in"):
            Shapes(n=10, difficulty=bad)


# --- Signs --------------------------------------------------------------------------

def test_signs_layout_balance_and_determinism():
    s = Signs("train", n_tracks=86, seed=2)
    assert s.data.shape == (86, 30, 3, 32, 32) and s.data.dtype == torch.uint8
    assert torch.bincount(s.targets, minlength=43).tolist() == [2] * 43
    assert len(SIGN_CLASSES) == 43 == len(set(SIGN_CLASSES)) and s.classes == SIGN_CLASSES
    assert torch.equal(Signs("train", n_tracks=86, seed=2).data, s.data)
    assert not torch.equal(Signs("val", n_tracks=86, seed=2).data, s.data)
    assert "GTSRB" in s.name
    x, y = s[0]
    assert x.shape == (30, 3, 32, 32) and x.dtype == torch.float32
    with pytest.raises(DataError, match="unknown split"):
        Signs("dev")


def test_signs_approach_the_camera():
    s = Signs("test", n_tracks=43, seed=0)
    x = s.data.float() / 255
    # the sign grows: the part of the frame that differs from frame 0 grows over time
    change = (x - x[:, :1]).abs().sum(2).gt(0.3).float().mean(dim=(2, 3))  # (N, 30)
    assert bool((change[:, 29] > change[:, 10]).float().mean() > 0.9)
    # it sharpens: edge energy of the last frame exceeds that of the first
    def edges(f):
        return (f[..., 1:, :] - f[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    assert bool((edges(x[:, 29]) > edges(x[:, 0])).float().mean() > 0.9)


def test_signs_are_learnable_and_easier_up_close():
    tr, te = Signs("train", n_tracks=430, seed=0), Signs("test", n_tracks=215, seed=0)

    def feats(d, frame):
        return F.avg_pool2d(d[:, frame].float() / 255, 4).flatten(1).numpy()

    near = fit_score(feats(tr.data, 29), tr.targets.numpy(), feats(te.data, 29), te.targets.numpy())
    far = fit_score(feats(tr.data, 0), tr.targets.numpy(), feats(te.data, 0), te.targets.numpy())
    assert near > 0.35, near  # chance is 1/43 = 0.023
    assert near > far + 0.1, (near, far)


def test_signs_difficulty():
    easy, hard = Signs("val", n_tracks=43, seed=1), Signs("val", n_tracks=43, seed=1, difficulty=1)
    assert easy.difficulty == 0.0 and "difficulty 1" in hard.name
    assert torch.equal(easy.targets, hard.targets)
    # by default the sign fills much of even the first frame; at difficulty 1 far signs are tiny
    def sign_area(ds, frame):
        x = ds.data.float() / 255
        return (x[:, frame] - x[:, frame].median(-1, keepdim=True).values.median(-2, keepdim=True).values
                ).abs().sum(1).gt(0.3).float().mean().item()
    assert sign_area(easy, 0) > 2 * sign_area(hard, 0)
    with pytest.raises(DataError, match="difficulty must be in"):
        Signs("val", n_tracks=43, difficulty=2)


def test_offline_sets_work_with_the_sequence_datasets():
    seq = NoisyFrames(Shapes(train=False, n=20), None, frames=4, noise_std=1.0, train=False)
    assert seq.batch(range(3))[0].shape == (3, 4, 3, 32, 32) and seq.num_classes == 10
    win = TrackWindows(Signs("val", n_tracks=43), None, frames=8, noise_std=0.5, train=True)
    assert win.batch(range(5))[0].shape == (5, 8, 3, 32, 32) and win.num_classes == 43


# --- registry -----------------------------------------------------------------------

def test_load_by_name_and_aliases():
    assert set(NAMES) == {"mnist", "fashion-mnist", "cifar10", "gtsrb", "digits", "shapes", "signs"}
    assert len(load("digits", "test")) == 360
    assert len(load("shapes", "train", n=30)) == 30
    assert load("signs", "val", n_tracks=43).data.shape[1] == 30
    with pytest.raises(DataError, match="unknown data set 'imagenet'; choose one of"):
        load("imagenet")
    with pytest.raises(DataError, match="has no split 'val'"):
        load("digits", "val")


def test_load_real_by_name_and_alias(tmp_path):
    (tmp_path / "fashion-mnist").mkdir()
    for split in ("train", "t10k"):
        write_idx(tmp_path / "fashion-mnist" / f"{split}-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
        write_idx(tmp_path / "fashion-mnist" / f"{split}-labels-idx1-ubyte", np.array([1, 2], np.uint8))
    ds = load("Fashion_MNIST", "test", root=tmp_path)
    assert ds.targets.tolist() == [1, 2] and ds.folder == tmp_path / "fashion-mnist"


def test_default_for_falls_back_and_says_where_it_looked(tmp_path):
    ds, note = default_for("mnist", root=tmp_path / "empty")
    assert isinstance(ds, Digits) and len(ds) == 1437
    assert note.startswith("MNIST not found in [")
    assert str(tmp_path / "empty" / "mnist") in note and str(tmp_path / "no-cache" / "mnist") in note
    assert "using the offline stand-in 'digits'" in note and "download=True" in note
    ds, note = default_for("gtsrb", root=tmp_path, split="val", n_tracks=43)
    assert isinstance(ds, Signs) and "stand-in 'signs'" in note
    ds, note = default_for("CIFAR-10", root=tmp_path, split="test", n=20)
    assert isinstance(ds, Shapes) and len(ds) == 20
    with pytest.raises(DataError, match="unknown experiment 'svhn'"):
        default_for("svhn")


def test_default_for_uses_real_data_when_present(tmp_path):
    d = tmp_path / "mnist"
    d.mkdir()
    for split, n in (("train", 4), ("t10k", 3)):
        write_idx(d / f"{split}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8))
        write_idx(d / f"{split}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    ds, note = default_for("mnist", root=tmp_path, split="test")
    assert len(ds) == 3 and note.startswith("using MNIST (") and str(d) in note


def test_default_for_with_failed_download_falls_back(tmp_path, monkeypatch):
    from streamnets.data import download as dl
    monkeypatch.setitem(dl.MIRRORS, "mnist", ["http://127.0.0.1:1/"])  # nothing listens there
    ds, note = default_for("mnist", root=tmp_path, download=True, split="test")
    assert isinstance(ds, Digits)
    assert note.startswith("MNIST download failed (could not download") and "stand-in 'digits'" in note
    assert "127.0.0.1:1/t10k-images-idx3-ubyte.gz: " in note  # the address and why it failed
    with pytest.raises(DataError, match=r"^MNIST download failed \(could not download .*127\.0\.0\.1:1/.*"
                                        r"put it in .*\); put the files in place by hand, or leave out the data "
                                        r"folder \(--data-dir\) and the download \(--download; --no-download for "
                                        r"reproduce --profile paper\) to use the offline stand-in 'digits'$"):
        default_splits("mnist", root=tmp_path, download=True, strict=True)
    assert not (tmp_path / "mnist").exists()  # no empty folder left to look like broken data


def _write_truncated_mnist(folder):
    """MNIST files whose image files end right after their magic number."""
    folder.mkdir()
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.zeros(2, np.uint8))


def test_default_for_with_corrupt_real_data_falls_back_and_says_why(tmp_path):
    _write_truncated_mnist(tmp_path / "mnist")
    ds, note = default_for("mnist", root=tmp_path)
    assert isinstance(ds, Digits) and "MNIST found but unreadable" in note and "truncated" in note
    # --download would not fetch what is there: the note says to repair it instead
    assert note.endswith("; to use the real data repair the files, or remove them and pass download=True "
                         "(--download)")


def test_a_partial_copy_is_named_with_its_missing_files_and_refused_when_asked_for(tmp_path, monkeypatch):
    # before: "MNIST not found" and the stand-in, also under --data-dir (data/README said: an error)
    _write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    (train, test), note = default_splits("mnist", root=tmp_path)
    assert isinstance(train, Digits) and note.startswith(
        f"MNIST incomplete ({tmp_path / 'mnist'} has train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        f"t10k-images-idx3-ubyte but not t10k-labels-idx1-ubyte); using the offline stand-in 'digits'")
    with pytest.raises(DataError, match=r"^MNIST incomplete \(.* but not t10k-labels-idx1-ubyte\); add the "
                                        r"missing files \(or --download them\), or leave out the data folder"):
        default_splits("mnist", root=tmp_path, strict=True)
    # a leftover elsewhere (an interrupted download into $STREAMNETS_DATA) does not stop a run
    # whose --data-dir simply holds no MNIST: the note names it, the stand-in is used
    monkeypatch.setenv(paths.ENV_VAR, str(tmp_path))
    (train, test), note = default_splits("mnist", root=tmp_path / "other", strict=True)
    assert isinstance(train, Digits) and note.startswith("MNIST incomplete (")


def test_default_splits_strict_refuses_unreadable_real_data_instead_of_the_stand_in(tmp_path):
    # what the CLI asks for when --data-dir or --download was given: before, a corrupt copy in
    # the named folder trained on the stand-in with status 0
    _write_truncated_mnist(tmp_path / "mnist")
    with pytest.raises(DataError, match=r"^MNIST found but unreadable \(.*truncated.*\); repair the files, "
                                        r"or remove them and download them again, or leave out the data "
                                        r"folder \(--data-dir\) to use the offline stand-in 'digits'"):
        default_splits("mnist", root=tmp_path, strict=True)
    (train, test), note = default_splits("mnist", root=tmp_path / "none", strict=True)  # not there: fine
    assert isinstance(train, Digits) and "MNIST not found in" in note


def _write_mnist(folder, corrupt=()):
    folder.mkdir()
    for split, n in (("train", 4), ("t10k", 3)):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        labels = folder / f"{split}-labels-idx1-ubyte"
        if split in corrupt:
            labels.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")  # 5 labels promised, 1 there
        else:
            write_idx(labels, np.zeros(n, np.uint8))


def test_default_splits_takes_every_split_from_the_same_source(tmp_path):
    _write_mnist(tmp_path / "mnist")
    (train, test), note = default_splits("mnist", root=tmp_path)
    assert (len(train), len(test)) == (4, 3) and note.startswith("using MNIST (")
    (train, test), note = default_splits("mnist", root=tmp_path / "empty")
    assert isinstance(train, Digits) and isinstance(test, Digits) and "stand-in 'digits'" in note
    assert [d.train for d in (train, test)] == [True, False]


def test_default_splits_never_mixes_real_training_with_offline_testing(tmp_path):
    _write_mnist(tmp_path / "mnist", corrupt=("t10k",))
    with pytest.raises(DataError, match=r"MNIST: the train split was read but the test split "
                                        r"cannot be \(.*truncated.*\); repair or delete"):
        default_splits("mnist", root=tmp_path)
    # a broken first split: both splits come from the stand-in, and the note says why
    (tmp_path / "other").mkdir()
    _write_mnist(tmp_path / "other" / "mnist", corrupt=("train",))
    (train, test), note = default_splits("mnist", root=tmp_path / "other")
    assert isinstance(train, Digits) and isinstance(test, Digits)
    assert "MNIST found but unreadable" in note
