"""Atomic downloads and safe extraction of archives.

A download streams into a temporary file next to its target and is renamed only once
complete, so an interrupted download never leaves a partial file that would later be
taken for data. Archive members with absolute paths, ``..`` components or links
pointing outside the destination are refused.
"""

import logging
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import List, Optional

from tqdm.auto import tqdm

logger = logging.getLogger("scvi.dataset.dataset")

_CHUNK = 1 << 20


def download_file(
    url: str, path: str, timeout: float = 60.0, show_progbar: bool = True
) -> None:
    """Download ``url`` to ``path`` atomically, with a progress bar.

    Parameters
    ----------
    url
        Address of the file.
    path
        Where to write it; its folder is created if needed.
    timeout
        Seconds to wait for the server.
    show_progbar
        Whether to show a tqdm progress bar.

    Raises
    ------
    OSError
        If the download fails; the message names the file, the URL and where to put
        the file by hand. No partial file is left at ``path``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(
        dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".part"
    )
    try:
        with (
            os.fdopen(handle, "wb") as out,
            urllib.request.urlopen(url, timeout=timeout) as response,
        ):
            total = response.headers.get("Content-Length")
            with tqdm(
                total=int(total) if total else None,
                unit="B",
                unit_scale=True,
                desc=os.path.basename(path),
                disable=not show_progbar,
            ) as bar:
                received = 0
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            # a connection closed early ends the reads quietly: check the size
            if total and received != int(total):
                raise OSError(f"received {received} of {total} bytes")
        os.replace(tmp, path)
    except BaseException as error:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        raise OSError(
            f"could not download {os.path.basename(path)} from {url} ({error}); "
            f"download it by hand and save it as {os.path.abspath(path)}"
        ) from error


def _check_member(name: str, destination: Path) -> Path:
    """Resolve an archive member inside ``destination`` or raise ValueError."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if (
        pure.is_absolute()
        or ".." in pure.parts
        or (pure.parts and ":" in pure.parts[0])
    ):
        raise ValueError(f"archive member {name!r} would be written outside the folder")
    target = (destination / pure).resolve()
    if destination != target and destination not in target.parents:
        raise ValueError(f"archive member {name!r} would be written outside the folder")
    return target


def extract_archive(archive: str, destination: Optional[str] = None) -> List[str]:
    """Extract a ``.tar``, ``.tar.gz``, ``.tgz`` or ``.zip`` archive safely.

    Parameters
    ----------
    archive
        Path of the archive.
    destination
        Folder to extract into; by default the archive's folder.

    Returns
    -------
    list of str
        Paths of the extracted files.

    Raises
    ------
    ValueError
        If the archive is corrupt or truncated, of an unknown kind, or has a member
        that would land outside ``destination`` (absolute path, ``..``, link
        outside). Nothing is extracted then.
    """
    destination = Path(destination or os.path.dirname(os.path.abspath(archive)))
    destination.mkdir(parents=True, exist_ok=True)
    destination = destination.resolve()
    try:
        if zipfile.is_zipfile(archive):
            return _extract_zip(archive, destination)
        if tarfile.is_tarfile(archive):
            return _extract_tar(archive, destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise ValueError(
            f"archive {archive} is corrupt or truncated: {error}"
        ) from error
    raise ValueError(f"{archive} is not a tar or zip archive (or it is corrupt)")


def _extract_zip(archive: str, destination: Path) -> List[str]:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        targets = [_check_member(m.filename, destination) for m in members]
        bad = zf.testzip()
        if bad is not None:
            raise zipfile.BadZipFile(f"bad CRC for member {bad}")
        zf.extractall(destination)
    return [str(t) for t, m in zip(targets, members) if not m.is_dir()]


def _extract_tar(archive: str, destination: Path) -> List[str]:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()  # reads the whole archive: truncation shows here
        targets = [_check_member(m.name, destination) for m in members]
        for member in members:
            if not (member.isfile() or member.isdir()):
                raise ValueError(
                    f"archive member {member.name!r} is a link or a special file; "
                    "only plain files and folders are extracted"
                )
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(destination, members=members, **extra)
    return [str(t) for t, m in zip(targets, members) if m.isfile()]
