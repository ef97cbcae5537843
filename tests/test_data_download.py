"""Downloads against a local HTTP server (127.0.0.1, Range support), no internet."""

import hashlib
import io
import re
import socket
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

from streamnets.data import CIFAR10, GTSRB, MNIST, paths, write_idx
from streamnets.data import download as dl
from streamnets.errors import DataError


class Server:
    """A tiny file server: ``files`` maps names to bytes.

    ``drop[name] = k`` makes the next request for ``name`` send the headers with the
    full length but only ``k`` bytes of the body, then close the connection.
    ``ranges = False`` ignores Range headers (answers 200 with everything).
    ``delay = s`` sends bodies in 20 kB pieces, ``s`` seconds apart (a slow link).
    """

    def __init__(self):
        self.files, self.drop, self.log, self.ranges, self.delay = {}, {}, [], True, 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                rng = self.headers.get("Range")
                outer.log.append((name, rng))
                if name not in outer.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = outer.files[name]
                start = 0
                if rng and outer.ranges:
                    start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                k = outer.drop.pop(name, None)
                if k is not None:
                    self.wfile.write(body[:k])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                step = 20_000 if outer.delay else max(1, len(body))
                for i in range(0, len(body), step):
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                    time.sleep(outer.delay)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.ENV_VAR, raising=False)
    monkeypatch.setattr(paths, "REPO_DATA_DIR", tmp_path / "no-repo-data")
    monkeypatch.setattr(paths, "CACHE_DIR", tmp_path / "no-cache")
    monkeypatch.setattr(dl, "MIRRORS", {})


PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def resource(**kw):
    args = dict(filename="blob.bin", urls=("http://127.0.0.1:9/never-used",), sha256=SHA,
                size=len(PAYLOAD), key="test")
    args.update(kw)
    return dl.Resource(**args)


def test_good_file(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    p = dl.fetch(resource(), tmp_path / "out", urls=server.url)
    assert p == tmp_path / "out" / "blob.bin" and p.read_bytes() == PAYLOAD
    assert not (tmp_path / "out" / "blob.bin.part").exists()
    assert server.log == [("blob.bin", None)]
    dl.fetch(resource(), tmp_path / "out", urls=server.url)  # present and valid: no request
    assert len(server.log) == 1


def test_mirrors_mapping_replaces_official_urls(server, tmp_path, monkeypatch):
    server.files["blob.bin"] = PAYLOAD
    monkeypatch.setitem(dl.MIRRORS, "test", [server.url])
    assert dl.fetch(resource(), tmp_path).read_bytes() == PAYLOAD


def test_corrupt_download_is_refetched_once_then_dataerror(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD[:-1] + b"\x00"  # same size, wrong bytes
    with pytest.raises(DataError, match=r"blob.bin: downloaded twice .* corrupt \(SHA-256"):
        dl.fetch(resource(), tmp_path, urls=server.url)
    assert [r for r in server.log] == [("blob.bin", None)] * 2
    assert not list(tmp_path.iterdir())  # neither target nor .part left behind


def test_a_mirror_serving_the_wrong_file_does_not_hide_the_next_url(server, tmp_path):
    # before: the first URL was asked twice and the good second one never
    server.files["portal/blob.bin"] = b"<html>please log in</html>"
    server.files["blob.bin"] = PAYLOAD
    urls = [server.url + "portal/", server.url]
    assert dl.fetch(resource(), tmp_path, urls=urls).read_bytes() == PAYLOAD
    assert server.log == [("portal/blob.bin", None), ("blob.bin", None)]
    server.files["blob.bin"] = b"also wrong"
    with pytest.raises(DataError, match=r"downloaded twice from .*portal/blob.bin, .*/blob.bin but"):
        dl.fetch(resource(), tmp_path / "b", urls=urls)


def test_wrong_size_is_detected_without_hashing(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD + b"extra"
    with pytest.raises(DataError, match="size 300005 bytes, expected 300000"):
        dl.fetch(resource(), tmp_path, urls=server.url)


def test_interrupted_transfer_is_resumed_with_range(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    server.drop["blob.bin"] = 100_000
    p = dl.fetch(resource(), tmp_path, urls=server.url)
    assert p.read_bytes() == PAYLOAD
    assert server.log == [("blob.bin", None), ("blob.bin", "bytes=100000-")]


def test_leftover_partial_file_is_resumed(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:123_456])
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD
    assert server.log == [("blob.bin", "bytes=123456-")]


def test_corrupt_partial_file_is_refetched_whole(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(b"\xff" * 1000)
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD
    assert server.log == [("blob.bin", "bytes=1000-"), ("blob.bin", None)]


def test_server_without_range_support_restarts(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    server.ranges = False
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:5000])
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD


def test_oversized_partial_gets_416_and_restarts(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(b"\x00" * (len(PAYLOAD) + 10))
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD


def test_a_complete_partial_file_is_used_without_a_request(server, tmp_path):
    # before: a run killed between the last byte and the rename asked for bytes=N-,
    # got 416 and downloaded the whole file again
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD
    assert server.log == [] and not (tmp_path / "blob.bin.part").exists()


def test_a_complete_partial_file_of_an_unpinned_resource_is_not_downloaded_again(server, tmp_path):
    # without a size or SHA-256 (GTSRB) the part file cannot be checked: the server's 416
    # with "bytes */N", N its size, says it is complete; before, it was deleted and the
    # whole file downloaded again
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    got = dl.fetch(resource(sha256=None, size=None), tmp_path, urls=server.url)
    assert got.read_bytes() == PAYLOAD and len(server.log) == 1


def test_corrupt_complete_target_is_replaced(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "blob.bin").write_bytes(b"garbage")
    assert dl.fetch(resource(), tmp_path, urls=server.url).read_bytes() == PAYLOAD


def test_a_mismatching_target_is_kept_when_the_download_fails(server, tmp_path):
    # before: deleted first, so a failed download lost e.g. a Debian copy of the file
    (tmp_path / "blob.bin").write_bytes(b"another compression of the same data")
    with pytest.raises(DataError, match="HTTP 404"):
        dl.fetch(resource(), tmp_path, urls=server.url)
    assert (tmp_path / "blob.bin").read_bytes() == b"another compression of the same data"


def test_falls_through_to_next_url_and_reports_all_failures(server, tmp_path):
    server.files["blob.bin"] = PAYLOAD
    urls = [server.url + "missing/", server.url]
    assert dl.fetch(resource(), tmp_path / "a", urls=urls).read_bytes() == PAYLOAD
    with pytest.raises(DataError) as e:
        dl.fetch(resource(filename="nope.bin"), tmp_path / "b", urls=[server.url, "http://127.0.0.1:1/"])
    msg = str(e.value)
    assert "HTTP 404" in msg and "127.0.0.1:1/nope.bin" in msg
    assert f"put it in {tmp_path / 'b'}" in msg


def test_a_failed_download_removes_the_folders_it_made_but_keeps_a_partial_file(server, tmp_path):
    (tmp_path / "kept").mkdir()
    with pytest.raises(DataError, match="HTTP 404"):
        dl.fetch(resource(), tmp_path / "kept" / "new" / "newer", urls=server.url)
    assert list(tmp_path.iterdir()) == [tmp_path / "kept"] and not list((tmp_path / "kept").iterdir())
    server.files["blob.bin"] = PAYLOAD
    server.drop["blob.bin"] = 100_000
    with pytest.raises(DataError, match="interrupted"):
        dl.fetch(resource(), tmp_path / "new", urls=server.url, retries=0)
    assert (tmp_path / "new" / "blob.bin.part").stat().st_size == 100_000  # kept for resuming


def test_a_resource_without_urls_is_a_dataerror(tmp_path):
    # before: IndexError from the message naming the first URL
    with pytest.raises(DataError, match=r"no URL to download blob.bin from; pass urls="):
        dl.fetch(resource(urls=()), tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_unknown_checksum_is_size_or_format_only(server, tmp_path):
    server.files["blob.bin"] = b"anything"
    p = dl.fetch(resource(sha256=None, size=None), tmp_path, urls=server.url)
    assert p.read_bytes() == b"anything"


def test_extract_archive_rejects_path_traversal(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("../outside.txt", "x")
    with pytest.raises(DataError, match="outside"):
        dl.extract_archive(z, tmp_path / "dest")
    assert not list(tmp_path.rglob("outside.txt"))  # was: looked only in tmp_path itself
    # a tar member written through a symlink that points out of the folder
    (tmp_path / "elsewhere").mkdir()
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as t:
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../elsewhere"  # tmp_path/elsewhere
        t.addfile(link)
        t.addfile(tarfile.TarInfo("data/link/pwned"), io.BytesIO(b""))
    with pytest.raises(DataError, match="evil.tar.gz"):
        dl.extract_archive(tmp_path / "evil.tar.gz", tmp_path / "dest")
    assert not list((tmp_path / "elsewhere").iterdir())
    (tmp_path / "notzip").write_bytes(b"hello")
    with pytest.raises(DataError, match="not a zip or tar archive"):
        dl.extract_archive(tmp_path / "notzip", tmp_path / "dest")


def test_without_extraction_filters_links_in_a_tar_are_refused(tmp_path, monkeypatch):
    # before: on Python < 3.10.12 / 3.11.4 a symlink member led the next member out of the folder
    (tmp_path / "elsewhere").mkdir()
    with tarfile.open(tmp_path / "evil.tar.gz", "w:gz") as t:
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../elsewhere"
        t.addfile(link)
        t.addfile(tarfile.TarInfo("data/link/pwned"), io.BytesIO(b""))
    extractall = tarfile.TarFile.extractall

    def old_python(self, path, members=None, *, numeric_owner=False, **kw):
        if kw:
            raise TypeError("extractall() got an unexpected keyword argument 'filter'")
        return extractall(self, path, members, numeric_owner=numeric_owner, filter="fully_trusted")

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_python)
    with pytest.raises(DataError, match=r"evil.tar.gz: holds links or special files \(data/link\)"):
        dl.extract_archive(tmp_path / "evil.tar.gz", tmp_path / "dest")
    assert not list((tmp_path / "elsewhere").iterdir())


def test_an_archive_with_corrupt_compressed_data_is_a_dataerror(tmp_path):
    # before: a bare zlib.error ("invalid code lengths set") from zipfile / tarfile
    text = bytes(np.random.default_rng(0).choice(np.frombuffer(b"abcdefgh ", np.uint8), 300_000))
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("GTSRB/x.txt", text)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("cifar/x.txt")
        info.size = len(text)
        t.addfile(info, io.BytesIO(text))
    (tmp_path / "b.tar.gz").write_bytes(buf.getvalue())
    for name, start in (("a.zip", 30 + len("GTSRB/x.txt")), ("b.tar.gz", 5000)):
        raw = bytearray((tmp_path / name).read_bytes())
        raw[start + 2:start + 12] = b"\xff" * 10  # garble the deflate stream
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(DataError, match=rf"{name}: corrupt archive .*delete it and download again"):
            dl.extract_archive(tmp_path / name, tmp_path / "dest")
    assert not list((tmp_path / "dest").iterdir())


# --- end to end through the data set classes -------------------------------------

def _gz_idx(arr, tmp_path, name):
    p = tmp_path / name
    write_idx(p, arr)
    return p.read_bytes()


def test_mnist_download_end_to_end(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    lab = np.arange(6, dtype=np.uint8)
    src = tmp_path / "src"
    src.mkdir()
    blobs = {"t10k-images-idx3-ubyte.gz": _gz_idx(img, src, "t10k-images-idx3-ubyte.gz"),
             "t10k-labels-idx1-ubyte.gz": _gz_idx(lab, src, "t10k-labels-idx1-ubyte.gz")}
    server.files.update(blobs)
    monkeypatch.setattr(MNIST, "checksums",
                        {k: (hashlib.sha256(v).hexdigest(), len(v)) for k, v in blobs.items()})
    monkeypatch.setitem(dl.MIRRORS, "mnist", [server.url])
    root = tmp_path / "root"
    with pytest.raises(DataError, match="download=True"):
        MNIST(root, train=False)
    ds = MNIST(root, train=False, download=True)
    assert ds.folder == root / "mnist"
    np.testing.assert_array_equal(ds.data[:, 0].numpy(), img)
    assert ds.targets.tolist() == list(range(6))
    n = len(server.log)
    MNIST(root, train=False, download=True)  # found locally: no request
    assert len(server.log) == n


def test_official_mnist_checksum_is_the_specified_one():
    res = {r.filename: r for r in MNIST.resources(train=False)}
    assert res["t10k-images-idx3-ubyte.gz"].sha256 == (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6")
    assert all(r.urls[0].startswith("http://yann.lecun.com/exdb/mnist/") for r in res.values())


def test_cifar_download_end_to_end(server, tmp_path, monkeypatch):
    import pickle

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            raw = pickle.dumps({b"data": np.full((2, 3072), 7, np.uint8), b"labels": [1, 2]})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))
    blob = buf.getvalue()
    server.files["cifar-10-python.tar.gz"] = blob
    monkeypatch.setattr(CIFAR10, "resource", dl.Resource(
        "cifar-10-python.tar.gz", CIFAR10.resource.urls, hashlib.sha256(blob).hexdigest(), len(blob), "cifar10"))
    monkeypatch.setitem(dl.MIRRORS, "cifar10", [server.url])
    ds = CIFAR10(tmp_path, train=True, download=True)
    assert ds.folder == tmp_path / "cifar10" / "cifar-10-batches-py"
    assert ds.data.shape == (10, 3, 32, 32) and int(ds.data.max()) == 7


def test_gtsrb_download_zip_end_to_end(server, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for track in range(3):
            for frame in range(30):
                img = io.BytesIO()
                Image.new("RGB", (20, 24), (frame, track, 0)).save(img, format="PPM")
                z.writestr(f"GTSRB/Final_Training/Images/00004/{track:05d}_{frame:05d}.ppm", img.getvalue())
    server.files["GTSRB_Final_Training_Images.zip"] = buf.getvalue()
    monkeypatch.setitem(dl.MIRRORS, "gtsrb", [server.url])
    ds = GTSRB(tmp_path, split="train", download=True, cache=False)
    assert (tmp_path / "gtsrb" / "GTSRB" / "Final_Training" / "Images" / "00004").is_dir()
    assert ds.data.shape == (1, 30, 3, 32, 32) and ds.targets.tolist() == [4]
    assert torch.equal(ds.data[0, :, 0, 0, 0], torch.arange(30, dtype=torch.uint8))
    assert not list((tmp_path / "gtsrb").glob(".extract-*"))


def test_gtsrb_download_of_a_non_zip_is_a_dataerror(server, tmp_path, monkeypatch):
    server.files["GTSRB_Final_Training_Images.zip"] = b"<html>maintenance</html>"
    monkeypatch.setitem(dl.MIRRORS, "gtsrb", [server.url])
    with pytest.raises(DataError, match="not a zip or tar archive"):
        GTSRB(tmp_path, download=True, cache=False)


def test_an_archive_without_the_expected_folder_is_a_dataerror(server, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Other/readme.txt", "not the images")
    server.files["GTSRB_Final_Training_Images.zip"] = buf.getvalue()
    monkeypatch.setitem(dl.MIRRORS, "gtsrb", [server.url])
    with pytest.raises(DataError, match="archive has no GTSRB/Final_Training/Images/ folder"):
        GTSRB.download(tmp_path)
    assert (tmp_path / "gtsrb" / "Other" / "readme.txt").is_file()


def test_simultaneous_downloads_of_one_file_take_turns(server, tmp_path):
    # Before: both wrote into blob.bin.part; the one that finished second found
    # its .part file moved away (a bare FileNotFoundError), or a mixed file.
    server.files["blob.bin"] = PAYLOAD
    server.delay = 0.01
    results = []

    def download():
        try:
            results.append(dl.fetch(resource(), tmp_path, urls=server.url))
        except Exception as e:  # noqa: BLE001 -- collected and checked below
            results.append(e)

    threads = [threading.Thread(target=download) for _ in range(3)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join()
    assert results == [tmp_path / "blob.bin"] * 3
    assert (tmp_path / "blob.bin").read_bytes() == PAYLOAD
    assert server.log == [("blob.bin", None)]  # the later ones found it complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]


def test_download_folder_that_cannot_be_created_or_written(server, tmp_path, monkeypatch):
    server.files["blob.bin"] = PAYLOAD
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(DataError, match=r"cannot create the download folder .*afile.*writable folder"):
        dl.fetch(resource(), tmp_path / "afile" / "sub", urls=server.url)
    with pytest.raises(DataError, match=r"cannot create the download folder .*afile"):
        MNIST(tmp_path / "afile", download=True)
    monkeypatch.setattr(dl.os, "access", lambda *a, **k: False)  # read-only (tests may run as root)
    with pytest.raises(DataError, match=r"cannot write into the download folder .*permission denied"):
        dl.fetch(resource(), tmp_path / "ro", urls=server.url)
    assert server.log == []


def test_bad_mirror_url_and_non_http_answer_are_dataerrors(tmp_path):
    with pytest.raises(DataError, match=r"ftp//x/blob.bin: unknown url type"):
        dl.fetch(resource(), tmp_path, urls="ftp//x/")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer_garbage():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"GARBAGE\r\n\r\n")
        conn.close()

    threading.Thread(target=answer_garbage, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        with pytest.raises(DataError, match=r"not a valid HTTP answer \(BadStatusLine"):
            dl.fetch(resource(), tmp_path, urls=url, retries=0)
    finally:
        listener.close()


def test_extraction_leaves_no_temporary_folders(tmp_path):
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("d/x.txt", "x")
    (tmp_path / ".extract-a.zip.tmp").mkdir()  # left by a killed extraction
    dl.extract_archive(z, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "d"]
    assert (tmp_path / "d" / "x.txt").read_text() == "x"


def test_a_bad_local_split_is_not_called_a_failed_download(server, tmp_path, monkeypatch):
    # the train split is on disk but truncated, the test split missing (and downloadable): reading
    # the train split fails, and the message said "download failed ... leave out the download"
    from streamnets.data import default_splits

    src = tmp_path / "src"
    src.mkdir()
    blobs = {name: _gz_idx(arr, src, name) for name, arr in (
        ("t10k-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8)),
        ("t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8)))}
    server.files.update(blobs)
    monkeypatch.setattr(MNIST, "checksums", {k: (hashlib.sha256(v).hexdigest(), len(v)) for k, v in blobs.items()})
    monkeypatch.setitem(dl.MIRRORS, "mnist", [server.url])
    folder = tmp_path / "root" / "mnist"
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte").write_bytes(b"\x00\x00")
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=r"^MNIST found but unreadable \(.*train-images-idx3-ubyte.*\); repair "
                                        r"the files, or remove them and download them again, or leave out the "
                                        r"data folder \(--data-dir\) and the download"):
        default_splits("mnist", root=tmp_path / "root", download=True, strict=True)


def test_a_fetch_that_waited_while_a_failed_one_removed_the_folder_makes_it_again(server, tmp_path):
    # before: the waiting fetch got the lock of a removed folder and failed on every address
    server.files["blob.bin"] = PAYLOAD
    folder = tmp_path / "new"
    folder.mkdir()
    holding = threading.Event()

    def failed_first_fetch():  # what a failed fetch that made the folder does under its lock
        with dl._locked(folder):
            holding.set()
            time.sleep(0.3)
            folder.rmdir()

    first = threading.Thread(target=failed_first_fetch)
    first.start()
    holding.wait()
    assert dl.fetch(resource(), folder, urls=server.url).read_bytes() == PAYLOAD
    first.join()
