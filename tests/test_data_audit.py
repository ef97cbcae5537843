"""Mistakes a user can make with streamnets.data, and the messages they get.

Each test names what happened before the fix it guards.
"""

import numpy as np
import pytest
import torch

from streamnets.data import CIFAR10, GTSRB, MNIST, Digits, Shapes, Signs, default_for, load, paths, write_idx
from streamnets.errors import DataError, SettingError


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")


def write_mnist(folder, n_train=4, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.full((n, 28, 28), 51, np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8))


# --- registry ---------------------------------------------------------------------

@pytest.mark.parametrize("name, guess", [("minst", "mnist"), ("fashionmnits", "fashion-mnist"),
                                         ("Cifar_1O", "cifar10"), ("gtrsb", "gtsrb")])
def test_unknown_name_suggests_the_closest(name, guess):
    with pytest.raises(DataError, match=f"unknown data set '{name}'; did you mean '{guess}'\\? choose one of"):
        load(name)


def test_unknown_experiment_suggests_the_closest():
    with pytest.raises(DataError, match="unknown experiment 'mnits'; did you mean 'mnist'"):
        default_for("mnits")
    with pytest.raises(DataError, match="unknown data set 'imagenet'; choose one of"):
        load("imagenet")  # nothing close: no guess


@pytest.mark.parametrize("call", [
    lambda root: load("mnist", train=False, root=root),
    lambda root: load("digits", train=False),
    lambda root: default_for("mnist", root=root, train=False),
    lambda root: default_for("mnist", root=root / "empty", train=False),
])
def test_torchvision_train_keyword_is_refused_with_the_split_to_use(tmp_path, call):
    # before: a bare TypeError (multiple values for 'train'), or -- default_for with
    # real data present -- the *training* split, silently
    write_mnist(tmp_path / "mnist")
    with pytest.raises(SettingError, match="choose the split with split='test', not train=False"):
        call(tmp_path)


def test_default_for_passes_transform_to_real_data(tmp_path):
    # before: keyword arguments were dropped when the real data set was used
    write_mnist(tmp_path / "mnist")
    ds, note = default_for("mnist", root=tmp_path, split="test", transform=lambda x: x * 0 + 7,
                           target_transform=str)
    assert isinstance(ds, MNIST) and note.startswith("using MNIST")
    x, y = ds[2]
    assert float(x.min()) == 7.0 and y == "2"
    ds, _ = default_for("mnist", root=tmp_path / "empty", split="test", transform=lambda x: x * 0 + 7)
    assert isinstance(ds, Digits) and float(ds[0][0].min()) == 7.0


def test_default_for_passes_each_class_only_what_it_takes(tmp_path):
    write_mnist(tmp_path / "mnist")
    # cache= is GTSRB's; before: a bare TypeError from the stand-in Signs
    ds, _ = default_for("gtsrb", root=tmp_path, split="val", cache=False, n_tracks=43)
    assert len(ds) == 43
    with pytest.raises(SettingError, match="neither MNIST nor Digits takes the keyword argument.* transfrom"):
        default_for("mnist", root=tmp_path, transfrom=None)  # a typo is not silently dropped


# --- missing data: the message says what to do --------------------------------------

@pytest.mark.parametrize("cls, split", [(MNIST, "train"), (CIFAR10, "train"), (GTSRB, "split")])
def test_positional_arguments_follow_torchvision(cls, split):
    # before: download came third, so MNIST(root, False, transform) took the transform as
    # download=<function> and silently loaded untransformed images
    import inspect
    names = list(inspect.signature(cls).parameters)[:5]
    assert names == ["root", split, "transform", "target_transform", "download"]


def test_transform_passed_by_position_is_applied(tmp_path):
    write_mnist(tmp_path)
    ds = MNIST(tmp_path, False, lambda x: x - 1.0, lambda y: y + 10)
    x, y = ds[1]
    assert float(x.max()) == pytest.approx(51 / 255 - 1.0) and y == 11


def test_missing_message_names_the_env_sub_folder(tmp_path, monkeypatch):
    # before: "(or point $STREAMNETS_DATA at a folder that holds them)", but files
    # directly in that folder are not found: only its sub-folders are searched
    env = tmp_path / "env"
    write_mnist(env)
    monkeypatch.setenv(paths.ENV_VAR, str(env))
    with pytest.raises(DataError, match=r"or in the sub-folder mnist/ of a folder named by \$STREAMNETS_DATA"):
        MNIST()
    write_mnist(env / "mnist")  # where the message says
    assert len(MNIST(train=False)) == 3
    with pytest.raises(DataError, match=r"in the sub-folder cifar10/ of a folder named by \$STREAMNETS_DATA"):
        CIFAR10()
    with pytest.raises(DataError, match=r"in the sub-folder gtsrb/ of a folder named by \$STREAMNETS_DATA"):
        GTSRB()


@pytest.mark.parametrize("cls", [MNIST, CIFAR10, GTSRB])
def test_missing_message_says_when_root_does_not_exist_or_is_a_file(tmp_path, cls):
    with pytest.raises(DataError, match=r"The root folder .*typo does not exist \(is the path right\?\)"):
        cls(tmp_path / "typo")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match=r"The root .*afile is a file, not a folder"):
        cls(tmp_path / "afile")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        cls(tmp_path / "empty")
    assert "The root" not in str(e.value)


@pytest.mark.parametrize("cls", [MNIST, CIFAR10, GTSRB])
def test_missing_message_says_when_the_data_variable_names_a_file(tmp_path, monkeypatch, cls):
    # before: "put the files in <file>/mnist", without a word that <file> is a file
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("STREAMNETS_DATA", str(tmp_path / "afile"))
    monkeypatch.setattr(cls, "system_dirs", ())  # e.g. Debian's MNIST would be found there
    with pytest.raises(DataError, match=r"\$STREAMNETS_DATA .*afile is a file, not a folder"):
        cls()


def test_relative_and_home_roots(tmp_path, monkeypatch):
    write_mnist(tmp_path / "data" / "mnist")
    monkeypatch.chdir(tmp_path)
    assert MNIST("data", train=False).folder.resolve() == tmp_path / "data" / "mnist"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert MNIST("~/data", train=False).folder == tmp_path / "data" / "mnist"


# --- indexing -------------------------------------------------------------------------

def test_indexing_image_data_sets(tmp_path):
    write_mnist(tmp_path / "mnist")
    ds = MNIST(tmp_path, train=True)
    x, y = ds[-1]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y == 3
    assert float(x.max()) == pytest.approx(0.2) and 0.0 <= float(x.min())
    assert ds[np.int64(1)][1] == 1 and ds[torch.tensor(2)][1] == 2
    # before: ds[0:1] silently returned a (1, 1, 28, 28) "sample", ds[0:2] and
    # ds[[0, 1]] a bare "only one element tensors can be converted" ValueError
    for index in (slice(0, 1), slice(0, 2), [0, 1], 1.0):
        with pytest.raises(TypeError, match=r"MNIST: index must be an integer, got .*; for several "
                                            r"samples use \.data\[\.\.\.\]"):
            ds[index]
    with pytest.raises(IndexError, match="MNIST: index 4 out of range for 4 samples"):
        ds[4]
    with pytest.raises(IndexError, match="index -5 out of range"):
        ds[-5]
    assert len(list(iter(ds))) == 4  # iteration by __getitem__ still stops at IndexError


def test_signs_negative_track_count():
    # before: a bare RuntimeError from torch.arange
    with pytest.raises(SettingError, match="Signs: n_tracks must be a whole number >= 0, got -1"):
        load("signs", "test", n_tracks=-1)


@pytest.mark.parametrize("make, message", [
    # before: an empty 0x0 image, a RuntimeError from torch.empty, or n=2.5 silently 2 images
    (lambda: Shapes(n=10, size=0), "Shapes: size must be a whole number >= 1, got 0"),
    (lambda: Shapes(n=10, size=2.5), "Shapes: size must be a whole number >= 1, got 2.5"),
    (lambda: Shapes(n=2.5), "Shapes: n must be a whole number >= 0, got 2.5"),
    (lambda: Signs("val", n_tracks=43, frames=0), "Signs: frames must be a whole number >= 1, got 0"),
    (lambda: Signs("val", n_tracks=43, size=-1), "Signs: size must be a whole number >= 1, got -1"),
    (lambda: Digits(size=0), "Digits: size must be a whole number >= 1, got 0"),
])
def test_offline_sizes_and_counts_are_whole_numbers(make, message):
    with pytest.raises(SettingError, match=message):
        make()


def test_offline_sizes_that_are_whole_numbers_are_taken():
    assert Shapes(n=10, size=4).data.shape == (10, 3, 4, 4)
    assert Signs("val", n_tracks=43, frames=2, size=8).data.shape == (43, 2, 3, 8, 8)
    assert Digits(size=8).data.shape[1:] == (1, 8, 8)


@pytest.mark.parametrize("cls, split", [(MNIST, False), (CIFAR10, False), (GTSRB, "test")])
def test_download_passed_third_as_before_is_refused_at_once(tmp_path, cls, split):
    # the order changed to torchvision's: MNIST(root, False, True) had download=True and
    # now took True as the transform, failing only at ds[0] ("'bool' object is not callable")
    with pytest.raises(DataError, match=r"transform must be callable or None, got True; .*pass "
                                        r"download=\.\.\. by name"):
        cls(tmp_path, split, True)
