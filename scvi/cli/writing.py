"""Writing the output of ``scvi train``: checked path, atomic write."""

import os
import tempfile


def _check_output(path: str, force: bool) -> str:
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise ValueError(f"--out {path!r} is a folder; give a file name (OUT.h5ad)")
    if os.path.exists(path) and not force:
        raise FileExistsError(
            f"--out {path!r} already exists; use --force to overwrite it"
        )
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the folder of --out, {folder!r}, does not exist")
    return path


def write_h5ad_atomically(adata, path: str) -> None:
    """Write ``adata`` to a temporary file beside ``path``, then rename it."""
    folder, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it private
        adata.write_h5ad(temporary)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
