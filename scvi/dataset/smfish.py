"""The osmFISH mouse somatosensory cortex dataset (Codeluppi et al., 2018)."""

import logging
import os
from typing import Optional

import numpy as np

from .dataset import DownloadableDataset
from .loom import read_loom

logger = logging.getLogger(__name__)

_URL = "http://linnarssonlab.org/osmFISH/osmFISH_SScortex_mouse_all_cells.loom"

HIGH_LEVEL_CLUSTERS = (
    "Astrocytes",
    "Endothelials",
    "Inhibitory",
    "Microglias",
    "Oligodendrocytes",
    "Pyramidals",
)
# Fine osmFISH clusters without a name prefix telling their group. They follow the
# level 1 classes of Zeisel et al. (2015): ependymal and choroid plexus cells are
# with the astrocytes, mural cells with the endothelial cells, perivascular
# macrophages with the microglia, hippocampal excitatory neurons with the pyramidal
# cells.
_FINE_TO_HIGH = {
    "C. Plexus": "Astrocytes",
    "Ependymal": "Astrocytes",
    "Pericytes": "Endothelials",
    "Vascular Smooth Muscle": "Endothelials",
    "Perivascular Macrophages": "Microglias",
    "Microglia": "Microglias",
    "Hippocampus": "Pyramidals",
}
_PREFIX_TO_HIGH = {
    "astrocyte": "Astrocytes",
    "endothelial": "Endothelials",
    "inhibitory": "Inhibitory",
    "microglia": "Microglias",
    "oligodendrocyte": "Oligodendrocytes",
    "pyramidal": "Pyramidals",
}
_EXCLUDED = "Excluded"


def high_level_cluster(cluster_name: str) -> Optional[str]:
    """The high-level cell type of an osmFISH cluster name, or None.

    Names starting with ``Astrocyte``, ``Endothelial``, ``Inhibitory``,
    ``Microglia``, ``Oligodendrocyte`` or ``Pyramidal`` (any case) go to the group
    of that name; the other clusters follow the classes of Zeisel et al. (2015):
    ``C. Plexus`` and ``Ependymal`` -> Astrocytes, ``Pericytes`` and ``Vascular
    Smooth Muscle`` -> Endothelials, ``Perivascular Macrophages`` -> Microglias,
    ``Hippocampus`` -> Pyramidals. Any other name (e.g. ``Excluded``) gives None.

    Parameters
    ----------
    cluster_name
        A fine cluster name (``ClusterName`` of the osmFISH loom file).

    Returns
    -------
    str or None
        One of :data:`HIGH_LEVEL_CLUSTERS`, or None.
    """
    name = cluster_name.strip()
    if name in _FINE_TO_HIGH:
        return _FINE_TO_HIGH[name]
    for prefix, group in _PREFIX_TO_HIGH.items():
        if name.lower().startswith(prefix):
            return group
    return None


def fine_clusters(names, cluster_ids=None, where: str = "the loom file"):
    """Cell types ordered by cluster id, and the label of each cell.

    This is scVI 0.6.8's order of the fine osmFISH clusters: ``"Excluded"`` (id 0)
    first, then ``"Pyramidal L6"`` (id 1), ... Without ids the names are sorted.

    Parameters
    ----------
    names
        Cluster name of each cell (``ClusterName``).
    cluster_ids
        Cluster id of each cell (``ClusterID``), or None.
    where
        What holds them, for error messages.

    Returns
    -------
    cell_types : numpy.ndarray
        The distinct names, by increasing id.
    labels : numpy.ndarray
        Position of each cell's cluster in ``cell_types`` (int64).

    Raises
    ------
    ValueError
        If ids and names do not match one to one.
    """
    names = np.asarray(names, dtype=str).reshape(-1)
    if cluster_ids is None:
        cell_types, labels = np.unique(names, return_inverse=True)
        return cell_types, labels.astype(np.int64)
    cluster_ids = np.asarray(cluster_ids).reshape(-1)
    if len(cluster_ids) != len(names):
        raise ValueError(
            f"{where}: ClusterID has {len(cluster_ids)} entries, ClusterName "
            f"{len(names)}"
        )
    _, first, labels = np.unique(cluster_ids, return_index=True, return_inverse=True)
    cell_types = names[first]
    if np.any(cell_types[labels] != names) or len(set(cell_types)) < len(first):
        raise ValueError(f"{where}: ClusterID and ClusterName do not match one to one")
    return cell_types, labels.reshape(-1).astype(np.int64)


class SmfishDataset(DownloadableDataset):
    """Loads osmFISH data of mouse cortex cells from the Linnarsson lab.

    The loom file ``osmFISH_SScortex_mouse_all_cell.loom`` holds the counts of 33
    genes (row attribute ``Gene``) in the cells, with the column attributes
    ``ClusterName``, ``ClusterID``, ``X`` and ``Y``; the spatial coordinates are
    the cell attributes ``x_coord`` and ``y_coord``.

    Labels are either the high-level groups of the clusters (see
    :func:`high_level_cluster`, ``cell_types`` in alphabetical order): cells of
    the ``Excluded`` cluster (left out by the authors) and of a cluster without
    group are dropped, the latter with a warning; or, with
    ``use_high_level_cluster=False``, the cluster names of all cells, ``cell_types``
    ordered by ``ClusterID`` as in scVI 0.6.8 (``"Excluded"`` first, then
    ``"Pyramidal L6"``, ...; alphabetical without ``ClusterID``).

    Parameters
    ----------
    save_path
        Location to use when saving/loading the data.
    use_high_level_cluster
        If True, use higher-level agglomerate clusters. The resulting cell types are
        "Astrocytes", "Endothelials", "Inhibitory", "Microglias", "Oligodendrocytes"
        and "Pyramidals".
    delayed_populating
        Switch for delayed populating mechanism.

    Raises
    ------
    ValueError
        If the loom file lacks one of the attributes above (``ClusterID`` is
        optional), its cluster ids and names do not match one to one, or no cell is
        left.

    Examples
    --------
    >>> smfish_dataset = SmfishDataset(save_path="data/")
    """

    def __init__(
        self,
        save_path: str = "data",
        use_high_level_cluster: bool = True,
        delayed_populating: bool = False,
    ):
        self.use_high_level_cluster = use_high_level_cluster
        super().__init__(
            urls=[_URL],
            filenames=["osmFISH_SScortex_mouse_all_cell.loom"],
            save_path=save_path,
            delayed_populating=delayed_populating,
        )

    def populate(self) -> None:
        """Read the loom file and populate the dataset."""
        logger.info("Loading smFISH dataset")
        path = os.path.join(self.save_path, self.filenames[0])
        loom = read_loom(path)
        for kind, attrs, name in (
            ("row", loom["row_attrs"], "Gene"),
            ("column", loom["col_attrs"], "ClusterName"),
            ("column", loom["col_attrs"], "X"),
            ("column", loom["col_attrs"], "Y"),
        ):
            if name not in attrs:
                raise ValueError(
                    f"{path} has no {kind} attribute {name!r}; found {list(attrs)}"
                )
        gene_names = np.asarray(loom["row_attrs"]["Gene"], dtype=str)
        clusters = np.asarray(loom["col_attrs"]["ClusterName"], dtype=str)
        x_coord = np.asarray(loom["col_attrs"]["X"], dtype=np.float64)
        y_coord = np.asarray(loom["col_attrs"]["Y"], dtype=np.float64)
        X = loom["X"]
        if self.use_high_level_cluster:
            names = np.array([high_level_cluster(c) or "" for c in clusters])
            unknown = sorted(set(clusters[names == ""]) - {_EXCLUDED})
            if unknown:
                logger.warning(
                    "Dropping the cells of clusters without high-level group: %s",
                    unknown,
                )
            kept = names != ""
            if not kept.any():
                raise ValueError(f"{path} has no cell outside the excluded clusters")
            cell_types, labels = np.unique(names[kept], return_inverse=True)
        else:
            kept = np.ones(len(clusters), dtype=bool)
            cell_types, labels = fine_clusters(
                clusters, loom["col_attrs"].get("ClusterID"), path
            )
        logger.info("Keeping %i of %i cells", kept.sum(), len(kept))
        self.populate_from_data(
            X[kept],
            labels=labels.astype(np.int64),
            gene_names=gene_names,
            cell_types=cell_types,
            cell_attributes_dict={"x_coord": x_coord[kept], "y_coord": y_coord[kept]},
        )
        logger.info("Finished preprocessing smFISH dataset")
