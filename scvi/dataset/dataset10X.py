"""Datasets processed with Cell Ranger: public 10x datasets or local outputs."""

import logging
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from ._10x_mex import (
    GENE_EXPRESSION,
    MATRIX_FILES,
    batches_from_barcodes,
    describe_expected,
    extract_and_find,
    find_archive,
    find_matrix_folders,
    pick_folder,
    read_mex,
    remove_paths,
    resolve,
)
from ._10x_urls import (  # noqa: F401 (scVI 0.6.8's tables, re-exported here)
    archive_name,
    available_datasets,
    available_specification,
    check_type,
    dataset_to_group,
    dataset_url,
    group_to_filename_skeleton,
    group_to_url_skeleton,
)
from ._barcode_match import match_barcodes, take_cells
from ._legacy_pickle import read_legacy_pickle
from .dataset import CellMeasurement, DownloadableDataset

logger = logging.getLogger(__name__)


class Dataset10X(DownloadableDataset):
    """Loads a file from the `10x <https://www.10xgenomics.com/>`_ website.

    With a ``dataset_name``, the archive of that public dataset is downloaded (unless
    already there) to ``save_path/dataset_name/`` and read. Without one, ``save_path``
    is searched for a folder written by Cell Ranger (``matrix.mtx[.gz]`` with
    ``genes.tsv`` or ``features.tsv[.gz]`` and ``barcodes.tsv[.gz]``, plain or
    gzipped, possibly under a genome folder such as ``hg19/``) or for a ``.tar.gz``
    archive of one, which is then extracted next to itself.

    The matrix (features x barcodes on disk) becomes ``X`` (cells x genes, float32
    CSR, or a dense array with ``dense=True``). Barcodes are kept as the
    ``barcodes`` cell attribute and their suffix (``AAACCTG-2`` -> 2) gives the
    ``batch_indices`` (remapped to ``0..N-1``). Feature ids and symbols are kept as
    the ``gene_ids`` and ``gene_symbols`` gene attributes. Features whose type (third
    column of ``features.tsv.gz``) is not ``"Gene Expression"``, such as CITE-seq
    ``"Antibody Capture"``, are removed from ``X`` and kept as the
    ``protein_expression`` cell measurement (dense int64) named by ``protein_names``.

    Parameters
    ----------
    dataset_name : str, optional
        Name of the dataset file. Has to be one of: "frozen_pbmc_donor_a",
        "frozen_pbmc_donor_b", "frozen_pbmc_donor_c", "fresh_68k_pbmc_donor_a",
        "cd14_monocytes", "b_cells", "cd34", "cd56_nk", "cd4_t_helper",
        "regulatory_t", "naive_t", "memory_t", "cytotoxic_t", "naive_cytotoxic",
        "pbmc8k", "pbmc4k", "t_3k", "t_4k", "neuron_9k", "pbmc_1k_protein_v3",
        "pbmc_10k_protein_v3", "malt_10k_protein_v3", "pbmc_1k_v2", "pbmc_1k_v3",
        "pbmc_10k_v3", "hgmm_1k_v2", "hgmm_1k_v3", "hgmm_5k_v3", "hgmm_10k_v3",
        "neuron_1k_v2", "neuron_1k_v3", "neuron_10k_v3", "heart_1k_v2",
        "heart_1k_v3", "heart_10k_v3", "5k_pbmc_protein_v3",
        "5k_pbmc_protein_v3_nextgem" (the keys of ``dataset_to_group``; see
        ``available_datasets`` for them by Cell Ranger release). Another name is
        accepted only with a ``url``.
    filename : str, optional
        Manual override of the filename to write to (an archive, or a folder in
        ``save_path`` holding Cell Ranger outputs). By default
        ``<type>_gene_bc_matrices.tar.gz`` or ``<type>_feature_bc_matrix.tar.gz``.
    save_path : str
        Location to use when saving/loading the data.
    url : str, optional
        Manual override of the download remote location. Urls are already known for
        the datasets listed above, formed from ``dataset_name`` and ``type``.
    type : str
        Either ``"filtered"`` data (cell barcodes only) or ``"raw"`` data.
    dense : bool
        Whether to load as dense or sparse. If False, data is cast to sparse using
        :class:`scipy.sparse.csr_matrix`.
    measurement_names_column : int
        Column in which to find measurement names in the corresponding ``.tsv``
        file: 0 for the feature ids (e.g. Ensembl ids), 1 for the symbols.
    remove_extracted_data : bool
        Whether to remove the folders extracted from an archive after populating the
        dataset. Folders that were already there (not extracted by this call) are
        never removed.
    delayed_populating : bool
        Switch for delayed populating mechanism.

    Raises
    ------
    ValueError
        For an unknown ``dataset_name`` without ``url`` (the message lists the valid
        names), an unknown ``type``, a corrupt archive or unreadable files.
    FileNotFoundError
        When no Cell Ranger output is found in ``save_path`` and none can be
        downloaded; the message says what was looked for where.

    Examples
    --------
    >>> tenX_dataset = Dataset10X("neuron_9k")
    >>> local_10X_dataset = Dataset10X(
    ...     save_path="data/10X/pbmc_10k_protein_v3/", measurement_names_column=1
    ... )
    """

    def __init__(
        self,
        dataset_name: Optional[str] = None,
        filename: Optional[str] = None,
        save_path: str = "data/10X",
        url: Optional[str] = None,
        type: str = "filtered",
        dense: bool = False,
        measurement_names_column: int = 0,
        remove_extracted_data: bool = False,
        delayed_populating: bool = False,
    ):
        check_type(type)
        if isinstance(measurement_names_column, bool) or not isinstance(
            measurement_names_column, (int, np.integer)
        ):
            raise ValueError(
                "measurement_names_column must be a column number (0: ids, 1: "
                f"symbols), got {measurement_names_column!r}"
            )
        self.dataset_name = dataset_name
        self.type = type
        self.dense = dense
        self.measurement_names_column = int(measurement_names_column)
        self.remove_extracted_data = remove_extracted_data
        if dataset_name is not None:
            if url is None:
                url = dataset_url(dataset_name, type)
                filename = filename or archive_name(dataset_name, type)
            save_path = os.path.join(save_path, dataset_name)
        super().__init__(
            urls=url,
            filenames=filename,
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    # ------------------------------------------------------------------ locating
    @property
    def _search_root(self) -> str:
        """Folder searched for Cell Ranger outputs (``filename`` if it is a folder)."""
        if self.filenames:
            path = os.path.join(self.save_path, self.filenames[0])
            if os.path.isdir(path):
                return path
        return self.save_path

    def _existing_folder(self) -> Optional[str]:
        """The one Cell Ranger folder already on disk, or None.

        With a known archive, only folders named for ``type`` count (the archive of
        the other type may have been extracted in the same place).
        """
        root = self._search_root
        candidates = find_matrix_folders(root) if os.path.isdir(root) else []
        return pick_folder(
            candidates, root, self.type, self._archive_path() is not None
        )

    def _archive_path(self) -> Optional[str]:
        """The archive named by ``filename``, if it is a file on disk."""
        if self.filenames:
            path = os.path.join(self.save_path, self.filenames[0])
            return path if os.path.isfile(path) else None
        return None

    def find_path_to_data(self) -> Tuple[str, str]:
        """Returns exact path for the data in the archive.

        This is required because 10X doesn't have a consistent way of storing their
        data (``filtered_gene_bc_matrices/<genome>/``, ``filtered_feature_bc_matrix/``,
        ``filtered_matrices_mex/<genome>/`` ...). Additionally, the function returns
        whether the data is stored in compressed format.

        Returns
        -------
        tuple of str
            The folder in which the files are contained, and their suffix if
            compressed (``".gz"``, else ``""``).

        Raises
        ------
        FileNotFoundError
            If no extracted Cell Ranger folder is in ``save_path`` yet.
        """
        folder = self._existing_folder()
        if folder is None:
            raise FileNotFoundError(
                f"no 10x data found: looked for {describe_expected(self._search_root)}"
            )
        matrix = resolve(folder, MATRIX_FILES)
        return folder, ".gz" if matrix.endswith(".gz") else ""

    def download(self) -> None:
        """Download the archive unless it, or its extracted folder, is in save_path."""
        if self.filenames and not os.path.exists(
            os.path.join(self.save_path, self.filenames[0])
        ):
            if os.path.isdir(self.save_path) and self._existing_folder() is not None:
                logger.info("Data already extracted in %s", self.save_path)
                return
        super().download()

    def _locate(self) -> Tuple[str, List[str]]:
        """Folder to read, and the paths extracted to find it (to remove later)."""
        folder = self._existing_folder()
        if folder is not None:
            return folder, []
        if self.filenames:
            archive = self._archive_path()
        else:
            archive = find_archive(self.save_path, self.type)
        if archive is None:
            raise FileNotFoundError(
                f"no 10x data found: looked for {describe_expected(self._search_root)}"
            )
        logger.info("Extracting tar file")
        return extract_and_find(archive, self._search_root, self.type)

    # ------------------------------------------------------------------- reading
    def _read(self) -> Dict[str, object]:
        """Read the Cell Ranger output; keyword arguments of populate_from_data."""
        folder, extracted = self._locate()
        try:
            data = read_mex(folder, self.measurement_names_column)
        finally:
            if self.remove_extracted_data and extracted:
                logger.info("Removing extracted data at %s", extracted)
                remove_paths(extracted)
        return self._as_populate_kwargs(data, folder)

    def _as_populate_kwargs(self, data: Dict[str, object], folder: str) -> dict:
        X, types, names = data["X"], data["types"], data["names"]
        is_gene = types == GENE_EXPRESSION
        if not is_gene.any():
            raise ValueError(f"no 'Gene Expression' feature in {folder}")
        measurements = []
        if not is_gene.all():
            logger.info(
                "Keeping %i features of type %s as protein_expression",
                int((~is_gene).sum()),
                sorted(set(types[~is_gene].tolist())),
            )
            proteins = np.asarray(X[:, ~is_gene].toarray(), dtype=np.int64)
            measurements.append(
                CellMeasurement(
                    name="protein_expression",
                    data=proteins,
                    columns_attr_name="protein_names",
                    columns=names[~is_gene],
                )
            )
            X = X[:, is_gene]
        X = X.astype(np.float32)
        if self.dense:
            X = X.toarray()
        barcodes = data["barcodes"]
        if barcodes is None:
            logger.info("No barcodes file in %s: all cells in batch 0", folder)
        return dict(
            X=X,
            Ys=measurements,
            batch_indices=batches_from_barcodes(barcodes, X.shape[0]),
            gene_names=names[is_gene],
            cell_attributes_dict=None if barcodes is None else {"barcodes": barcodes},
            gene_attributes_dict={
                "gene_ids": data["ids"][is_gene],
                "gene_symbols": data["symbols"][is_gene],
            },
        )

    def populate(self) -> None:
        """Populates a :class:`DownloadableDataset` object's data attributes.

        E.g. by calling one of :class:`GeneExpressionDataset`'s ``populate_from...``
        methods.
        """
        logger.info("Preprocessing dataset")
        kwargs = self._read()
        logger.info("Finished preprocessing dataset")
        self.populate_from_data(**kwargs)


class BrainSmallDataset(Dataset10X):
    """This dataset consists in 9,128 mouse brain cells profiled using `10x Genomics`.

    It is used as a complement of PBMC for our study of zero abundance and quality
    control metrics correlation with our generative posterior parameters.

    We derived quality control metrics using the cellrangerRkit R package (v.1.1.0).
    Quality metrics were extracted from CellRanger throughout the molecule specific
    information file. We kept the top 3000 genes by variance. We used the clusters
    provided by cellRanger for the correlation analysis of zero probabilities.

    The counts are the 10x ``neuron_9k`` dataset (see :class:`Dataset10X`, looked
    for in ``save_path_10X/neuron_9k/``). The cells are those listed in
    ``brain_small_metadata.pickle``, in its order, which is read only from
    ``save_path`` (it is never downloaded: put it there). Its cluster numbers become
    the ``labels`` (``cell_types`` are the cluster numbers as text) and its quality
    control table the ``raw_qc`` cell attribute, (nb_cells, 9), with column names
    in ``metadata_columns["raw_qc"]``. The pickle, written with pandas 0.2x, is read
    with the compatibility layer of :mod:`scvi.dataset._legacy_pickle`.

    Parameters
    ----------
    save_path : str
        Folder holding ``brain_small_metadata.pickle``.
    save_path_10X : str, optional
        Location of the 10x datasets; ``save_path/10X`` by default.
    delayed_populating : bool
        Switch for delayed populating mechanism.
    remove_extracted_data : bool
        Whether to remove extracted archives after populating the dataset.

    Examples
    --------
    >>> gene_dataset = BrainSmallDataset()
    """

    metadata_filename = "brain_small_metadata.pickle"

    def __init__(
        self,
        save_path: str = "data",
        save_path_10X: Optional[str] = None,
        delayed_populating: bool = False,
        remove_extracted_data: bool = False,
    ):
        self.metadata_path = os.path.join(save_path, self.metadata_filename)
        super().__init__(
            dataset_name="neuron_9k",
            save_path=save_path_10X or os.path.join(save_path, "10X"),
            remove_extracted_data=remove_extracted_data,
            delayed_populating=delayed_populating,
        )

    def download(self) -> None:
        """Check for the metadata pickle, then download the 10x data if needed."""
        if not os.path.isfile(self.metadata_path):
            raise FileNotFoundError(
                f"{os.path.abspath(self.metadata_path)} not found; put the file "
                f"{self.metadata_filename} in {os.path.dirname(self.metadata_path)}"
            )
        super().download()

    def populate(self) -> None:
        """Read neuron_9k, keep the cells of the metadata and the 3000 top genes."""
        logger.info("Preprocessing dataset")
        metadata = read_legacy_pickle(self.metadata_path)
        kwargs = self._read()
        clusters = metadata["clusters"]
        raw_qc = metadata["raw_qc"].reindex(clusters.index)
        rows, kept = match_barcodes(
            kwargs["cell_attributes_dict"], clusters.index, "neuron_9k"
        )
        kwargs = take_cells(kwargs, rows)
        kwargs["labels"] = clusters.iloc[kept, 0].to_numpy().astype(np.int64)
        kwargs["cell_attributes_dict"]["raw_qc"] = raw_qc.iloc[kept].to_numpy(
            dtype=np.float64
        )
        self.metadata_columns = {"raw_qc": raw_qc.columns.to_numpy().astype(str)}
        logger.info("Finished preprocessing dataset")
        self.populate_from_data(**kwargs)
        self.subsample_genes(new_n_genes=3000, mode="variance")
