"""Base of the datasets read from a single, possibly downloaded, file."""

import logging
import os
from typing import Optional


class SingleFileMixin:
    """For a :class:`~scvi.dataset.dataset.DownloadableDataset` read from the one
    file ``filenames[0]``: ``class Loader(SingleFileMixin, DownloadableDataset)``.

    Subclasses store their options before calling ``__init__`` (which downloads
    the file and, unless delayed, populates the dataset) and implement
    :meth:`_read`, which turns the file into the arguments of
    :meth:`populate_from_data`. Progress is logged with the logger of the module
    defining the subclass.

    Parameters
    ----------
    filename, save_path, url, delayed_populating
        As ``filenames``, ``save_path``, ``urls`` and ``delayed_populating`` of
        :class:`~scvi.dataset.dataset.DownloadableDataset`, for a single file.
    """

    def __init__(
        self,
        filename: str,
        save_path: str,
        url: Optional[str],
        delayed_populating: bool,
    ):
        super().__init__(
            urls=url,
            filenames=filename,
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Read the file and populate the dataset."""
        logger = logging.getLogger(type(self).__module__)
        logger.info("Preprocessing dataset")
        data = self._read(os.path.join(self.save_path, self.filenames[0]))
        logger.info("Finished preprocessing dataset")
        self.populate_from_data(**data)

    def _read(self, path: str) -> dict:
        """Keyword arguments of :meth:`populate_from_data` read from ``path``."""
        raise NotImplementedError
