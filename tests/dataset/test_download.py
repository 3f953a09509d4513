"""Atomic downloads, DownloadableDataset and safe archive extraction (offline)."""

import gzip
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scvi.dataset import DownloadableDataset
from scvi.dataset._download import download_file, extract_archive


def test_download_file_from_a_file_url(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(3 << 20))
    target = tmp_path / "sub" / "copy.bin"
    download_file(source.as_uri(), str(target), show_progbar=False)
    assert target.read_bytes() == source.read_bytes()
    assert [p.name for p in target.parent.iterdir()] == ["copy.bin"]


def test_failed_download_names_file_url_and_place(tmp_path):
    url = (tmp_path / "missing.bin").as_uri()
    target = tmp_path / "data" / "wanted.h5ad"
    with pytest.raises(OSError, match="could not download wanted.h5ad from .*missing"):
        download_file(url, str(target), show_progbar=False)
    assert list(target.parent.iterdir()) == []


class _TruncatingHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        self.wfile.write(b"x" * 1000)  # then the connection closes early

    def log_message(self, *args):
        pass


def test_interrupted_download_leaves_no_file(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), _TruncatingHandler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/big.loom"
    target = tmp_path / "big.loom"
    try:
        with pytest.raises(OSError, match="could not download big.loom"):
            download_file(url, str(target), show_progbar=False)
    finally:
        thread.join(5)
        server.server_close()
    assert list(tmp_path.iterdir()) == []


class _NpyDataset(DownloadableDataset):
    def __init__(self, **kwargs):
        self.populated = False
        super().__init__(**kwargs)

    def populate(self):
        self.populated = True
        X = np.load(os.path.join(self.save_path, self.filenames[0]))
        self.populate_from_data(X)


def test_downloadable_dataset_uses_local_file_then_downloads(tmp_path):
    X = np.arange(12).reshape(3, 4) + 1
    remote = tmp_path / "remote"
    remote.mkdir()
    np.save(remote / "counts.npy", X)
    local = tmp_path / "local"

    dataset = _NpyDataset(urls=(remote / "counts.npy").as_uri(), save_path=str(local))
    assert dataset.filenames == ["counts.npy"]
    np.testing.assert_array_equal(dataset.X, X)
    # the file is now local: a second instance does not need the URL
    again = _NpyDataset(filenames="counts.npy", save_path=str(local))
    np.testing.assert_array_equal(again.X, X)

    delayed = _NpyDataset(
        filenames="counts.npy", save_path=str(local), delayed_populating=True
    )
    assert not delayed.populated and delayed.X is None
    delayed.populate()
    assert delayed.nb_cells == 3


def test_missing_file_without_url_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="put the file counts.npy in"):
        _NpyDataset(filenames="counts.npy", save_path=str(tmp_path))


def test_downloadable_dataset_is_abstract():
    with pytest.raises(TypeError):
        DownloadableDataset()


def _tar_with(path, names, mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for name in names:
            data = b"payload"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def test_extract_tar_and_zip(tmp_path):
    _tar_with(tmp_path / "good.tar.gz", ["a/b.txt", "c.txt"])
    files = extract_archive(str(tmp_path / "good.tar.gz"), str(tmp_path / "out"))
    assert sorted(Path(f).relative_to(tmp_path / "out").as_posix() for f in files) == [
        "a/b.txt",
        "c.txt",
    ]
    assert (tmp_path / "out" / "a" / "b.txt").read_bytes() == b"payload"
    with zipfile.ZipFile(tmp_path / "good.zip", "w") as zf:
        zf.writestr("d/e.csv", "1,2\n")
    files = extract_archive(str(tmp_path / "good.zip"))
    assert (tmp_path / "d" / "e.csv").read_text() == "1,2\n"
    assert files == [str((tmp_path / "d" / "e.csv").resolve())]


@pytest.mark.parametrize("evil", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt"])
def test_tar_path_traversal_is_refused(tmp_path, evil):
    archive = tmp_path / "evil.tar.gz"
    _tar_with(archive, ["fine.txt", evil])
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="outside the folder"):
        extract_archive(str(archive), str(out))
    assert list(out.iterdir()) == []  # nothing extracted, not even fine.txt
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("evil", ["../evil.txt", "/abs/evil.txt"])
def test_zip_path_traversal_is_refused(tmp_path, evil):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", "ok")
        zf.writestr(evil, "bad")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="outside the folder"):
        extract_archive(str(archive), str(out))
    assert list(out.iterdir()) == []


def test_links_in_tar_are_refused(tmp_path):
    archive = tmp_path / "link.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ValueError, match="is a link or a special file"):
        extract_archive(str(archive), str(tmp_path / "out"))


def test_truncated_and_corrupt_archives(tmp_path):
    _tar_with(tmp_path / "whole.tar.gz", [f"f{i}.txt" for i in range(50)])
    data = (tmp_path / "whole.tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated|not a tar or zip"):
        extract_archive(str(tmp_path / "cut.tar.gz"), str(tmp_path / "out"))
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ValueError, match="corrupt|not a tar or zip"):
        extract_archive(str(tmp_path / "junk.zip"), str(tmp_path / "out"))
    (tmp_path / "plain.gz").write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(ValueError, match="not a tar or zip"):
        extract_archive(str(tmp_path / "plain.gz"), str(tmp_path / "out"))
