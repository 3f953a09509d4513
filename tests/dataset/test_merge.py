"""Populating from lists of matrices and merging datasets."""

import numpy as np
import pytest
import scipy.sparse as sp_sparse

from scvi.dataset import CellMeasurement, GeneExpressionDataset


def make_dataset(genes, cell_types, labels, n_batches=1, seed=0, sparse=False):
    rng = np.random.default_rng(seed)
    n_cells = len(labels)
    X = rng.poisson(2.0, size=(n_cells, len(genes))) + 1
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        sp_sparse.csr_matrix(X) if sparse else X,
        batch_indices=np.arange(n_cells) % n_batches,
        labels=labels,
        gene_names=genes,
        cell_types=cell_types,
    )
    return dataset, X


@pytest.fixture
def three_datasets():
    d1, X1 = make_dataset(["a", "b", "c", "d"], ["T", "B"], [0, 1, 1, 0, 0], 2, 1)
    d2, X2 = make_dataset(["d", "c", "x", "a"], ["NK", "T"], [0, 1, 1], 1, 2)
    d3, X3 = make_dataset(["c", "a", "d", "y"], ["B", "Mono"], [1, 1, 0, 0], 2, 3)
    return (d1, d2, d3), (X1, X2, X3)


def cell_type_names(dataset):
    # a merged dataset's cell_types is a list, as in scVI 0.6.8
    return np.asarray(dataset.cell_types)[dataset.labels.ravel()]


@pytest.mark.parametrize("sparse", [False, True])
def test_merge_three_datasets(three_datasets, sparse):
    (d1, d2, d3), (X1, X2, X3) = three_datasets
    if sparse:
        d2.X = sp_sparse.csr_matrix(d2.X)
    before = [cell_type_names(d).copy() for d in (d1, d2, d3)]
    merged = GeneExpressionDataset()
    merged.populate_from_datasets([d1, d2, d3])

    # genes: the intersection, in the order of the first dataset
    np.testing.assert_array_equal(merged.gene_names, ["a", "c", "d"])
    expected = np.vstack([X1[:, [0, 2, 3]], X2[:, [3, 1, 0]], X3[:, [1, 0, 2]]])
    X = merged.X.toarray() if sp_sparse.issparse(merged.X) else merged.X
    np.testing.assert_array_equal(X, expected)
    assert sp_sparse.issparse(merged.X) == sparse

    # labels: remapped onto the union of the cell types
    assert sorted(merged.cell_types) == ["B", "Mono", "NK", "T"]
    np.testing.assert_array_equal(cell_type_names(merged), np.concatenate(before))
    assert merged.n_labels == 4

    # batches: offset by the batches of the datasets before
    np.testing.assert_array_equal(
        merged.batch_indices.ravel(), [0, 1, 0, 1, 0, 2, 2, 2, 3, 4, 3, 4]
    )
    assert merged.n_batches == 5

    # library sizes recomputed on the merged genes, per merged batch
    lib = np.log(expected.sum(axis=1))
    for b in range(5):
        cells = merged.batch_indices.ravel() == b
        np.testing.assert_allclose(merged.local_means[cells], lib[cells].mean(), 1e-5)
        np.testing.assert_allclose(merged.local_vars[cells], lib[cells].var(), 1e-4)

    # the inputs are left untouched
    np.testing.assert_array_equal(d2.gene_names, ["d", "c", "x", "a"])
    assert d2.nb_genes == 4


def test_merge_without_shared_labels(three_datasets):
    (d1, d2, d3), _ = three_datasets
    merged = GeneExpressionDataset()
    merged.populate_from_datasets([d1, d2, d3], shared_labels=False)
    # each dataset keeps its own label codes: "T" of d1 and "T" of d2 differ
    np.testing.assert_array_equal(
        merged.labels.ravel(), [0, 1, 1, 0, 0, 2, 3, 3, 5, 5, 4, 4]
    )
    np.testing.assert_array_equal(merged.cell_types, ["T", "B", "NK", "T", "B", "Mono"])


def test_merge_errors(three_datasets):
    (d1, _, _), _ = three_datasets
    other, _ = make_dataset(["p", "q"], ["T"], [0, 0])
    with pytest.raises(ValueError, match="share no gene"):
        GeneExpressionDataset().populate_from_datasets([d1, other])
    with pytest.raises(ValueError, match="at least one dataset"):
        GeneExpressionDataset().populate_from_datasets([])
    dup, _ = make_dataset(["a", "a", "c"], ["T"], [0, 0])
    with pytest.raises(ValueError, match="gene_names in dataset 1 must be unique"):
        GeneExpressionDataset().populate_from_datasets([d1, dup])
    with pytest.raises(ValueError, match="not a populated dataset"):
        GeneExpressionDataset().populate_from_datasets([d1, GeneExpressionDataset()])


def test_merge_cell_attributes_and_mapping_reference():
    d1, _ = make_dataset(["a", "b"], ["T", "B"], [0, 1, 1])
    d2, _ = make_dataset(["a", "b"], ["B"], [0, 0])
    d1.initialize_cell_attribute("donor", np.array([0, 1, 1]), categorical=True)
    d1.initialize_mapped_attribute("donor", "donor_names", ["alice", "bob"])
    d2.initialize_cell_attribute("donor", np.array([0, 0]), categorical=True)
    d2.initialize_mapped_attribute("donor", "donor_names", ["bob"])
    d1.initialize_cell_attribute("quality", np.array([0.5, 0.2, 0.1]))
    d2.initialize_cell_attribute("quality", np.array([0.9, 0.8]))
    d1.initialize_cell_attribute("only_here", np.array([1, 2, 3]))

    shared = GeneExpressionDataset()
    shared.populate_from_datasets(
        [d1, d2], mapping_reference_for_sharing={"donor": "donor_names"}
    )
    np.testing.assert_array_equal(
        np.asarray(shared.donor_names)[shared.donor.ravel()],
        ["alice", "bob", "bob", "bob", "bob"],
    )
    np.testing.assert_allclose(shared.quality, [0.5, 0.2, 0.1, 0.9, 0.8])
    assert "only_here" not in shared.cell_attribute_names

    apart = GeneExpressionDataset()
    apart.populate_from_datasets([d1, d2])
    # without a sharing reference a categorical attribute is offset
    np.testing.assert_array_equal(apart.donor.ravel(), [0, 1, 1, 2, 2])
    np.testing.assert_array_equal(apart.donor_names, ["alice", "bob", "bob"])


def with_proteins(dataset, names, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 50, size=(dataset.nb_cells, len(names)))
    dataset.initialize_cell_measurement(
        CellMeasurement("protein_expression", data, "protein_names", names)
    )
    return data


def test_merge_measurements_intersection_and_union():
    d1, _ = make_dataset(["a", "b"], ["T"], [0, 0, 0])
    d2, _ = make_dataset(["a", "b"], ["T"], [0, 0])
    p1 = with_proteins(d1, ["CD3", "CD4", "CD8"], 1)
    p2 = with_proteins(d2, ["CD8", "CD3", "CD19"], 2)

    inter = GeneExpressionDataset()
    inter.populate_from_datasets([d1, d2])
    np.testing.assert_array_equal(inter.protein_names, ["CD3", "CD8"])
    np.testing.assert_array_equal(
        inter.protein_expression, np.vstack([p1[:, [0, 2]], p2[:, [1, 0]]])
    )

    union = GeneExpressionDataset()
    union.populate_from_datasets(
        [d1, d2], cell_measurement_intersection={"protein_expression": False}
    )
    # sorted names, as in scVI 0.6.8
    np.testing.assert_array_equal(union.protein_names, ["CD19", "CD3", "CD4", "CD8"])
    expected = np.zeros((5, 4), dtype=p1.dtype)
    expected[:3, [1, 2, 3]] = p1
    expected[3:, [3, 1, 0]] = p2
    np.testing.assert_array_equal(union.protein_expression, expected)
    masks = union.get_batch_mask_cell_measurement("protein_expression")
    assert len(masks) == union.n_batches == 2
    np.testing.assert_array_equal(masks[0], [False, True, True, True])
    np.testing.assert_array_equal(masks[1], [True, True, False, True])
    with pytest.raises(ValueError, match="not a cell measurement"):
        union.get_batch_mask_cell_measurement("labels")


def test_populate_from_per_batch_list():
    rng = np.random.default_rng(0)
    Xs = [rng.poisson(3, size=(n, 6)) + 1 for n in (4, 2, 3)]
    labels = [np.array([0, 1, 1, 0]), np.array([2, 2]), np.array([1, 0, 2])]
    dataset = GeneExpressionDataset()
    dataset.populate_from_per_batch_list(
        [Xs[0], sp_sparse.csr_matrix(Xs[1]), Xs[2]],
        labels_per_batch=labels,
        cell_types=["a", "b", "c"],
    )
    assert sp_sparse.issparse(dataset.X)
    np.testing.assert_array_equal(dataset.X.toarray(), np.vstack(Xs))
    np.testing.assert_array_equal(
        dataset.batch_indices.ravel(), [0, 0, 0, 0, 1, 1, 2, 2, 2]
    )
    np.testing.assert_array_equal(dataset.labels.ravel(), np.concatenate(labels))
    assert dataset.n_batches == 3 and dataset.n_labels == 3
    with pytest.raises(ValueError, match=r"Xs\[1\] has 5 genes"):
        dataset.populate_from_per_batch_list([Xs[0], np.ones((2, 5))])
    with pytest.raises(ValueError, match=r"labels_per_batch\[1\] has 3 entries"):
        dataset.populate_from_per_batch_list(
            Xs[:2], labels_per_batch=[labels[0], [0] * 3]
        )
    with pytest.raises(ValueError, match="non-empty list"):
        dataset.populate_from_per_batch_list([])


def test_populate_from_per_label_list():
    rng = np.random.default_rng(1)
    Xs = [rng.poisson(3, size=(n, 5)) + 1 for n in (3, 2)]
    dataset = GeneExpressionDataset()
    dataset.populate_from_per_label_list(
        Xs, batch_indices_per_label=[[1, 0, 1], [0, 0]], gene_names=list("vwxyz")
    )
    np.testing.assert_array_equal(dataset.X, np.vstack(Xs))
    np.testing.assert_array_equal(dataset.labels.ravel(), [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(dataset.gene_names, list("vwxyz"))
    assert dataset.n_labels == 2
