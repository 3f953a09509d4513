"""Orders scVI 0.6.8 gives: merged cell types and measurement columns, and the fine
osmFISH clusters of SmfishDataset (issue 16).

Every expected value below was printed by scVI 0.6.8 for the same inputs.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

from scvi.dataset import CellMeasurement, GeneExpressionDataset, SmfishDataset
from scvi.dataset.smfish import fine_clusters

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = FIXTURES / "scvi-0.6-fixtures"

# cell types (an unused one), labels, genes, protein names
A = (["Z", "A", "M", "Unused"], [2, 0, 1, 0], ["g1", "g2", "g3", "g4"])
A_PROTEINS = ["Pz", "Pa", "Pm", "Px"]
B = (["M", "Q", "A", "B"], [3, 0, 1, 2, 1], ["g4", "g2", "g5", "g1"])
B_PROTEINS = ["Pm", "Pq", "Pz", "Pa"]


def make(spec, proteins, offset):
    cell_types, labels, genes = spec
    n = len(labels)
    rng = np.random.RandomState(offset)
    # protein j of cell i is 100 i + offset + j
    data = np.arange(len(proteins))[None, :] + offset + 100 * np.arange(n)[:, None]
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        rng.randint(0, 5, (n, len(genes))).astype(np.float32),
        labels=np.array(labels),
        cell_types=np.array(cell_types),
        gene_names=np.array(genes),
        Ys=[
            CellMeasurement(
                "protein_expression", data, "protein_names", np.array(proteins)
            )
        ],
    )
    return dataset


def merged(first_a=True, **kwargs):
    a, b = make(A, A_PROTEINS, 10), make(B, B_PROTEINS, 20)
    dataset = GeneExpressionDataset()
    dataset.populate_from_datasets([a, b] if first_a else [b, a], **kwargs)
    return dataset


def rows(first, n_cells):
    """Protein rows of ``n_cells`` cells; a 0 marks a column the dataset lacks."""
    return [[v + 100 * i if v else 0 for v in first] for i in range(n_cells)]


def test_shared_cell_types_are_a_list_in_order_of_first_appearance():
    dataset = merged()
    assert type(dataset.cell_types) is list
    assert dataset.cell_types == ["Z", "A", "M", "Q", "B"]
    assert dataset.labels.ravel().tolist() == [2, 0, 1, 0, 4, 2, 3, 1, 3]
    assert list(dataset.gene_names) == ["g1", "g2", "g4"]
    other = merged(first_a=False)
    assert other.cell_types == ["M", "Q", "A", "B", "Z"]
    assert other.labels.ravel().tolist() == [3, 0, 1, 2, 1, 0, 4, 2, 4]
    assert list(other.gene_names) == ["g4", "g2", "g1"]


def test_unshared_cell_types_are_concatenated_in_a_list():
    dataset = merged(shared_labels=False)
    assert type(dataset.cell_types) is list
    assert dataset.cell_types == ["Z", "A", "M", "M", "Q", "A", "B"]
    assert dataset.labels.ravel().tolist() == [2, 0, 1, 0, 6, 3, 4, 5, 4]


def test_measurement_columns_are_sorted():
    for first_a in (True, False):
        dataset = merged(first_a=first_a)
        assert list(dataset.protein_names) == ["Pa", "Pm", "Pz"]
        a_rows, b_rows = rows([11, 12, 10], 4), rows([23, 20, 22], 5)
        expected = a_rows + b_rows if first_a else b_rows + a_rows
        assert dataset.protein_expression.tolist() == expected


def test_measurement_union_is_sorted():
    dataset = merged(cell_measurement_intersection={"protein_expression": False})
    assert list(dataset.protein_names) == ["Pa", "Pm", "Pq", "Px", "Pz"]
    expected = rows([11, 12, 0, 13, 10], 4) + rows([23, 20, 21, 0, 22], 5)
    assert dataset.protein_expression.tolist() == expected
    other = merged(
        first_a=False, cell_measurement_intersection={"protein_expression": False}
    )
    assert list(other.protein_names) == ["Pa", "Pm", "Pq", "Px", "Pz"]


def test_other_merged_mappings_are_lists():
    def make_donors(cell_types, labels, donors, codes):
        dataset = GeneExpressionDataset()
        dataset.populate_from_data(
            np.ones((len(labels), 2), dtype=np.float32),
            batch_indices=np.array(codes),
            labels=np.array(labels),
            cell_types=np.array(cell_types),
            gene_names=np.array(["a", "b"]),
        )
        dataset.initialize_mapped_attribute(
            "batch_indices", "experiment", np.array(donors)
        )
        return dataset

    def pair():
        return [
            make_donors(["T", "B"], [0, 1, 1], ["e2", "e1"], [0, 1, 1]),
            make_donors(["B", "C"], [0, 1], ["e1", "e3"], [0, 1]),
        ]

    shared = GeneExpressionDataset()
    shared.populate_from_datasets(
        pair(), mapping_reference_for_sharing={"batch_indices": "experiment"}
    )
    assert shared.experiment == ["e2", "e1", "e3"]
    assert shared.batch_indices.ravel().tolist() == [0, 1, 1, 1, 2]
    assert shared.cell_types == ["T", "B", "C"]
    apart = GeneExpressionDataset()
    apart.populate_from_datasets(pair())
    assert apart.experiment == ["e2", "e1", "e1", "e3"]
    assert apart.batch_indices.ravel().tolist() == [0, 1, 1, 2, 3]


def test_a_merged_dataset_keeps_working_with_list_cell_types():
    dataset = merged()
    dataset.filter_cell_types(["A", "Q"])
    assert list(dataset.cell_types) == ["A", "Q"]
    dataset = merged()
    dataset.reorder_cell_types(["B"])
    assert list(dataset.cell_types) == ["B", "Z", "A", "M", "Q"]
    adata = merged().to_anndata()
    assert list(adata.obs["cell_types"].cat.categories) == ["Z", "A", "M", "Q", "B"]


# ---------------------------------------------------------------------- osmFISH
FINE_ORDER = [
    "Excluded",
    "Pyramidal L6",
    "Astrocyte Mfge8",
    "Astrocyte Gfap",
    "pyramidal L4",
    "Pyramidal L3-4",
    "Pyramidal Kcnip2",
    "Endothelial",
    "Pyramidal L2-3",
    "Pyramidal Cpne5",
    "Pyramidal L2-3 L5",
    "Pyramidal L5",
    "Hippocampus",
    "Inhibitory Cnr1",
    "Inhibitory Kcnip2",
    "Inhibitory Pthlh",
    "Inhibitory Crhbp",
    "Inhibitory CP",
    "Inhibitory IC",
    "Inhibitory Vip",
    "Oligodendrocyte Mature",
    "Oligodendrocyte MF",
    "C. Plexus",
    "Vascular Smooth Muscle",
    "Endothelial 1",
    "Ependymal",
    "Perivascular Macrophages",
    "Microglia",
    "Oligodendrocyte NF",
    "Pericytes",
    "Oligodendrocyte Precursor cells",
    "Oligodendrocyte COP",
]
FINE_LABELS_START = [17, 17, 16, 16, 13, 13, 18, 18, 14, 14, 15, 15, 19, 19, 9, 9]


def test_smfish_fine_clusters_in_scvi_068_order(tmp_path):
    name = "osmFISH_SScortex_mouse_all_cell.loom"
    if not (FIXTURES / name).exists():
        pytest.skip(f"fixture {FIXTURES / name} missing")
    shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / name).chmod(0o644)
    dataset = SmfishDataset(save_path=str(tmp_path), use_high_level_cluster=False)
    assert list(dataset.cell_types) == FINE_ORDER
    # every cell is kept, Excluded ones too; two cells per cluster in the fixture
    assert dataset.nb_cells == 64 and dataset.nb_genes == 33
    assert dataset.labels.ravel().tolist()[:16] == FINE_LABELS_START
    assert np.bincount(dataset.labels.ravel()).tolist() == [2] * 32


def test_fine_clusters_order_and_errors():
    names = np.array(["b", "a", "b", "c"])
    cell_types, labels = fine_clusters(names, np.array([7, 3, 7, 1]))
    assert cell_types.tolist() == ["c", "a", "b"]
    assert labels.tolist() == [2, 1, 2, 0]
    cell_types, labels = fine_clusters(names)  # without ids: alphabetical
    assert cell_types.tolist() == ["a", "b", "c"]
    with pytest.raises(ValueError, match="one to one"):
        fine_clusters(names, np.array([7, 3, 8, 1]))
    with pytest.raises(ValueError, match="one to one"):
        fine_clusters(names, np.array([7, 3, 7, 7]))
