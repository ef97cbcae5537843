"""The GTSRB track loader on a tiny folder tree of .ppm images written by the tests.

Every fixture image is one flat colour that encodes where it belongs:
red = 8 * frame index, green = 20 * track id, blue = 5 * class id. Resizing a flat
image keeps its colour, so the decoded tensor shows grouping and ordering exactly.
"""

import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from streamnets.data import GTSRB, GTSRB_CLASSES, paths, split_tracks
from streamnets.data import gtsrb as gtsrb_mod
from streamnets.errors import DataError, SettingError

# class id -> {track id: number of frames}
LAYOUT = {
    0: {0: 30, 1: 30, 2: 30, 3: 30, 4: 30},
    5: {0: 30, 7: 31, 9: 20},  # one long track (subsampled), one short (padded)
    42: {t: 30 for t in range(10)},
}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")


def colour(cls, track, frame):
    return (8 * frame, 20 * track, 5 * cls)


def write_gtsrb(root, layout=LAYOUT, csv=True, seed=0):
    """Write GTSRB/Final_Training/Images/000CC/*.ppm (+ GT csv) in shuffled order."""
    rng = random.Random(seed)
    images = root / "GTSRB" / "Final_Training" / "Images"
    for cls, tracks in layout.items():
        d = images / f"{cls:05d}"
        d.mkdir(parents=True)
        rows = []
        for track, n in tracks.items():
            for frame in range(n):
                w, h = rng.randint(15, 45), rng.randint(15, 45)
                name = f"{track:05d}_{frame:05d}.ppm"
                Image.new("RGB", (w, h), colour(cls, track, frame)).save(d / name)
                rows.append(f"{name};{w};{h};1;1;{w - 2};{h - 2};{cls}")
        rng.shuffle(rows)
        if csv:
            header = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"
            (d / f"GT-{cls:05d}.csv").write_text("\n".join([header] + rows) + "\n")
    return images


@pytest.fixture(scope="module")
def gtsrb_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("gtsrb-data")
    write_gtsrb(root)
    return root


def load_all(root, **kw):
    return {s: GTSRB(root, split=s, **kw) for s in ("train", "val", "test")}


def test_tracks_are_grouped_ordered_and_resized(gtsrb_root):
    splits = load_all(gtsrb_root, cache=False)
    seen = set()
    for split, ds in splits.items():
        assert ds.data.dtype == torch.uint8 and ds.data.shape[1:] == (30, 3, 32, 32)
        assert ds.targets.dtype == torch.int64
        for i in range(len(ds)):
            cls, track = ds.track_ids[i].tolist()
            assert int(ds.targets[i]) == cls
            seen.add((cls, track))
            n = LAYOUT[cls][track]
            assert int(ds.track_lengths[i]) == n
            if n >= 30:
                frames = np.round(np.linspace(0, n - 1, 30)).astype(int)
            else:
                frames = list(range(n)) + [n - 1] * (30 - n)
            expect = torch.tensor([colour(cls, track, f) for f in frames], dtype=torch.uint8)
            # every pixel of frame t has the colour of the t-th frame on disk
            assert torch.equal(ds.data[i].amin(dim=(2, 3)), expect)
            assert torch.equal(ds.data[i].amax(dim=(2, 3)), expect)
        x, y = ds[0]
        assert x.shape == (30, 3, 32, 32) and x.dtype == torch.float32 and y == int(ds.targets[0])
    assert seen == {(c, t) for c, ts in LAYOUT.items() for t in ts}
    assert splits["test"].classes == GTSRB_CLASSES and len(GTSRB_CLASSES) == 43


def test_split_is_80_10_10_per_class_disjoint_and_seeded(gtsrb_root):
    splits = load_all(gtsrb_root, cache=False)
    ids = {s: {tuple(t) for t in ds.track_ids.tolist()} for s, ds in splits.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    per = {s: torch.bincount(ds.targets, minlength=43) for s, ds in splits.items()}
    # class 0: 5 tracks -> 3/1/1; class 5: 3 -> 1/1/1; class 42: 10 -> 8/1/1
    assert [int(per["train"][c]) for c in (0, 5, 42)] == [3, 1, 8]
    assert [int(per["val"][c]) for c in (0, 5, 42)] == [1, 1, 1]
    assert [int(per["test"][c]) for c in (0, 5, 42)] == [1, 1, 1]
    again = GTSRB(gtsrb_root, split="test", cache=False)
    assert torch.equal(again.track_ids, splits["test"].track_ids)
    other = [GTSRB(gtsrb_root, split="train", cache=False, seed=s).track_ids for s in range(1, 6)]
    assert any(not torch.equal(o, splits["train"].track_ids) for o in other)


def test_split_tracks_fractions_on_many_tracks():
    labels = np.repeat(np.arange(43), 30)  # about GTSRB's size: 1290 tracks
    s = split_tracks(labels, seed=3)
    sizes = [len(s[k]) for k in ("train", "val", "test")]
    assert sizes == [1032, 129, 129]
    assert sorted(np.concatenate(list(s.values())).tolist()) == list(range(len(labels)))


def test_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    write_gtsrb(tmp_path, layout={3: {0: 30, 1: 30, 2: 30}})
    first = GTSRB(tmp_path, split="train")
    cache = GTSRB.cache_path(tmp_path / "GTSRB" / "Final_Training" / "Images")
    assert cache.is_file()
    assert not list(cache.parent.glob("*.tmp"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert cache.stat().st_mode & 0o777 == 0o666 & ~umask  # was 0600: unreadable to others

    def boom(*a, **k):
        raise AssertionError("images decoded again although the cache is valid")

    monkeypatch.setattr(gtsrb_mod, "_build", boom)
    second = GTSRB(tmp_path, split="train")
    assert torch.equal(first.data, second.data) and torch.equal(first.track_ids, second.track_ids)
    # a new image changes the fingerprint: the cache is rebuilt
    d = tmp_path / "GTSRB" / "Final_Training" / "Images" / "00003"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(d / "00005_00000.ppm")
    with open(d / "GT-00003.csv", "a") as f:
        f.write("00005_00000.ppm;20;20;1;1;18;18;3\n")
    with pytest.raises(AssertionError, match="decoded again"):
        GTSRB(tmp_path, split="train")


def test_read_only_folder_falls_back_to_user_cache(tmp_path, monkeypatch):
    write_gtsrb(tmp_path, layout={1: {0: 30}})

    def refuse(obj, path):
        if paths.CACHE_DIR not in path.parents:
            raise PermissionError(f"read-only: {path}")
        return orig(obj, path)

    orig = gtsrb_mod._atomic_save
    monkeypatch.setattr(gtsrb_mod, "_atomic_save", refuse)
    GTSRB(tmp_path, split="train")
    assert list(paths.CACHE_DIR.glob("gtsrb-*.pt"))


def test_without_csv_uses_folder_class(tmp_path):
    write_gtsrb(tmp_path, layout={7: {0: 30, 1: 30, 2: 30}}, csv=False)
    ds = GTSRB(tmp_path, split="train", cache=False)
    assert ds.targets.tolist() == [7] and ds.track_ids[0, 0] == 7


def test_csv_class_mismatch_names_file_and_line(tmp_path):
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    csv = images / "00002" / "GT-00002.csv"
    lines = csv.read_text().splitlines()
    lines[3] = lines[3].rsplit(";", 1)[0] + ";9"
    csv.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"GT-00002.csv, line 4: ClassId 9 but the file is in the folder of class 2"):
        GTSRB(tmp_path, cache=False)


def test_csv_lists_missing_image(tmp_path):
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    (images / "00002" / "00000_00004.ppm").unlink()
    with pytest.raises(DataError, match=r"GT-00002.csv: lists 00000_00004.ppm but .* does not exist"):
        GTSRB(tmp_path, cache=False)


def test_csv_bad_header(tmp_path):
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    csv = images / "00002" / "GT-00002.csv"
    csv.write_text(csv.read_text().replace("ClassId", "Klasse"))
    with pytest.raises(DataError, match="header has no column 'ClassId'"):
        GTSRB(tmp_path, cache=False)


def test_undecodable_image(tmp_path):
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    (images / "00002" / "00000_00003.ppm").write_bytes(b"P6 garbage")
    with pytest.raises(DataError, match="00000_00003.ppm: cannot decode image"):
        GTSRB(tmp_path, cache=False)
    # before: a header promising 10^10 pixels ended in PIL's DecompressionBombError traceback
    (images / "00002" / "00000_00003.ppm").write_bytes(b"P6\n100000 100000\n255\n" + bytes(30))
    with pytest.raises(DataError, match="00000_00003.ppm: cannot decode image .*decompression bomb"):
        GTSRB(tmp_path, cache=False)


def test_a_cache_file_that_is_not_the_cache_is_rebuilt(tmp_path):
    # before: a cache file holding a tensor ended in AttributeError: 'Tensor' object has no attribute 'get'
    write_gtsrb(tmp_path, layout={3: {0: 30, 1: 30, 2: 30}})
    cache = GTSRB.cache_path(tmp_path / "GTSRB" / "Final_Training" / "Images")
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torch.zeros(3), cache)
    assert GTSRB(tmp_path, split="train", cache=False).data.shape[1:] == (30, 3, 32, 32)
    assert len(GTSRB(tmp_path, split="train")) == len(GTSRB(tmp_path, split="train", cache=False))


def test_missing_gtsrb_message_and_bad_split(tmp_path):
    with pytest.raises(DataError) as e:
        GTSRB(tmp_path / "none")
    msg = str(e.value)
    assert f"  - {tmp_path / 'none' / 'gtsrb' / 'GTSRB' / 'Final_Training' / 'Images'}\n" in msg
    assert "/usr/share/datasets/gtsrb" in msg
    assert "GTSRB_Final_Training_Images.zip" in msg and "download=True" in msg and "--download" in msg
    with pytest.raises(DataError, match="unknown split 'valid'"):
        GTSRB(tmp_path, split="valid")


def test_csv_that_is_not_utf8_text(tmp_path):
    # before: a bare UnicodeDecodeError
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    csv = images / "00002" / "GT-00002.csv"
    csv.write_bytes(csv.read_bytes() + b"\xff\xfe;\x00\n")
    with pytest.raises(DataError, match=r"GT-00002.csv: not a readable GTSRB annotation file"):
        GTSRB(tmp_path, cache=False)


def test_csv_saved_with_a_byte_order_mark(tmp_path):
    # before: "header has no column 'Filename' (found ['\ufeffFilename', ...])"
    images = write_gtsrb(tmp_path, layout={2: {0: 30, 1: 30, 2: 30}})
    csv = images / "00002" / "GT-00002.csv"
    csv.write_text(csv.read_text(), encoding="utf-8-sig")
    assert GTSRB(tmp_path, split="test", cache=False).targets.tolist() == [2]


def test_csv_listing_an_image_twice(tmp_path):
    # before: the track silently got the frame twice (31 frames, one repeated)
    images = write_gtsrb(tmp_path, layout={2: {0: 30}})
    csv = images / "00002" / "GT-00002.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines + [lines[5]]) + "\n")
    with pytest.raises(DataError, match=r"GT-00002.csv, line 32: .*listed a second time \(first on line 6\)"):
        GTSRB(tmp_path, cache=False)


@pytest.mark.parametrize("kw", [{"size": 0}, {"track_length": 0}, {"track_length": -3}, {"size": 2.5}])
def test_size_and_track_length_must_be_positive_integers(tmp_path, kw):
    # before: size=0 blamed the images ("cannot decode image ... extract the archive
    # again"); track_length <= 0 a bare ValueError from numpy
    write_gtsrb(tmp_path, layout={2: {0: 30}})
    with pytest.raises(SettingError, match=f"GTSRB: {next(iter(kw))} must be a whole number >= 1, got {next(iter(kw.values()))!r}"):
        GTSRB(tmp_path, cache=False, **kw)


def test_missing_class_folders_are_named(tmp_path):
    # before: an incomplete extraction loaded silently with fewer classes
    write_gtsrb(tmp_path)  # classes 0, 5 and 42
    ds = GTSRB(tmp_path, split="train", cache=False)
    assert ds.missing_classes == [c for c in range(43) if c not in (0, 5, 42)]
    assert ds.name.endswith("; only 3 of the 43 class folders have images "
                            "(missing: 00001-00004, 00006-00041))")


def test_a_complete_folder_has_no_missing_classes(tmp_path):
    write_gtsrb(tmp_path, layout={c: {0: 2} for c in range(43)})
    ds = GTSRB(tmp_path, split="train", cache=False, track_length=2, size=4)
    assert ds.missing_classes == [] and "missing" not in ds.name and "only" not in ds.name
    assert ds.name.endswith("GTSRB/Final_Training/Images)")
