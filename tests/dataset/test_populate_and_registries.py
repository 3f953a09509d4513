"""populate_from_data, the attribute registries and remap_categories.

Every expected value is computed independently with NumPy on small hand-made
matrices.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp_sparse

from scvi.dataset import CellMeasurement, GeneExpressionDataset
from scvi.dataset.dataset import remap_categories


def _counts(n_cells=6, n_genes=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, size=(n_cells, n_genes)).astype(np.float32)
    X[:, 0] += 1  # no empty cell
    return X


def _populated(X=None, **kwargs):
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(_counts() if X is None else X, **kwargs)
    return dataset


def _proteins(n_cells, n_proteins=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.poisson(5.0, size=(n_cells, n_proteins)).astype(np.float32)


# ----------------------------------------------------------------- defaults
@pytest.mark.parametrize("sparse", [False, True])
def test_populate_defaults(sparse):
    X = _counts(6, 5)
    dataset = _populated(sp_sparse.csr_matrix(X) if sparse else X)

    assert dataset.nb_cells == 6 and dataset.nb_genes == 5
    assert len(dataset) == 6
    assert sp_sparse.isspmatrix_csr(dataset.X) == sparse
    dense = dataset.X.toarray() if sparse else dataset.X
    np.testing.assert_array_equal(dense, X)

    for name in ("batch_indices", "labels"):
        values = getattr(dataset, name)
        assert values.shape == (6, 1)
        assert values.dtype == np.int64
        np.testing.assert_array_equal(values, np.zeros((6, 1)))
    assert dataset.n_batches == 1 and dataset.n_labels == 1

    np.testing.assert_array_equal(dataset.gene_names, ["0", "1", "2", "3", "4"])
    assert dataset.gene_names.dtype.kind == "U"
    np.testing.assert_array_equal(dataset.cell_types, ["0"])

    assert set(dataset.cell_attribute_names) == {
        "batch_indices",
        "labels",
        "local_means",
        "local_vars",
    }
    assert set(dataset.cell_categorical_attribute_names) == {
        "batch_indices",
        "labels",
    }
    assert list(dataset.gene_attribute_names) == ["gene_names"]
    assert dataset.attribute_mappings["labels"] == ["cell_types"]
    assert dataset.norm_X is None and dataset.corrupted_X is None


def test_populate_given_attributes_are_stored():
    X = _counts(5, 4)
    dataset = _populated(
        X,
        batch_indices=[0, 1, 1, 0, 2],
        labels=np.array([1, 0, 1, 2, 0]),
        gene_names=["g0", "g1", "g2", "g3"],
        cell_types=["T", "B", "NK"],
    )
    np.testing.assert_array_equal(dataset.batch_indices.ravel(), [0, 1, 1, 0, 2])
    np.testing.assert_array_equal(dataset.labels.ravel(), [1, 0, 1, 2, 0])
    np.testing.assert_array_equal(dataset.gene_names, ["g0", "g1", "g2", "g3"])
    np.testing.assert_array_equal(dataset.cell_types, ["T", "B", "NK"])
    assert dataset.n_batches == 3 and dataset.n_labels == 3


def test_string_labels_become_codes_and_cell_types():
    labels = np.array(["b", "a", "c", "b", "a", "b"])
    dataset = _populated(_counts(6, 4), labels=labels)
    cell_types = np.unique(labels)
    np.testing.assert_array_equal(dataset.cell_types, cell_types)
    codes = dataset.labels.ravel()
    assert dataset.labels.dtype == np.int64
    np.testing.assert_array_equal(codes, [1, 0, 2, 1, 0, 1])
    np.testing.assert_array_equal(dataset.cell_types[codes], labels)
    assert dataset.n_labels == 3


def test_string_labels_looked_up_in_given_cell_types():
    labels = np.array(["x", "z", "x"])
    dataset = _populated(_counts(3, 4), labels=labels, cell_types=["z", "y", "x"])
    # remapping drops the unused "y" and keeps the names of every cell
    np.testing.assert_array_equal(dataset.cell_types[dataset.labels.ravel()], labels)
    assert "y" not in dataset.cell_types
    assert len(dataset.cell_types) == 2

    with pytest.raises(ValueError, match="labels"):
        _populated(_counts(3, 4), labels=labels, cell_types=["x", "y"])


def test_remap_attributes_true_and_false():
    X = _counts(3, 4)
    remapped = _populated(X, labels=[3, 5, 3], batch_indices=[2, 2, 7])
    np.testing.assert_array_equal(remapped.labels.ravel(), [0, 1, 0])
    np.testing.assert_array_equal(remapped.batch_indices.ravel(), [0, 0, 1])
    # default cell types are named after the original codes; unused ones go
    np.testing.assert_array_equal(remapped.cell_types, ["3", "5"])
    assert remapped.n_labels == 2 and remapped.n_batches == 2

    given = _populated(X, labels=[3, 5, 3], cell_types=["a", "b", "c", "d", "e", "f"])
    np.testing.assert_array_equal(given.labels.ravel(), [0, 1, 0])
    np.testing.assert_array_equal(given.cell_types, ["d", "f"])

    kept = _populated(
        X,
        labels=[3, 5, 3],
        cell_types=["a", "b", "c", "d", "e", "f"],
        remap_attributes=False,
    )
    np.testing.assert_array_equal(kept.labels.ravel(), [3, 5, 3])
    np.testing.assert_array_equal(kept.cell_types, ["a", "b", "c", "d", "e", "f"])
    np.testing.assert_array_equal(kept.cell_types[kept.labels.ravel()], ["d", "f", "d"])
    assert kept.n_labels == 2


def test_cell_measurement_registered():
    X = _counts(6, 5)
    proteins = _proteins(6, 3)
    names = np.array(["CD3", "CD4", "CD8"])
    dataset = _populated(
        X,
        Ys=[
            CellMeasurement(
                name="protein_expression",
                data=proteins,
                columns_attr_name="protein_names",
                columns=names,
            )
        ],
    )
    assert dataset.cell_measurements_col_mappings == {
        "protein_expression": "protein_names"
    }
    assert "protein_expression" in dataset.cell_attribute_names
    np.testing.assert_array_equal(dataset.protein_expression, proteins)
    np.testing.assert_array_equal(dataset.protein_names, names)

    # the measurement follows the cells
    dataset.update_cells([4, 1])
    np.testing.assert_array_equal(dataset.protein_expression, proteins[[4, 1]])


def test_cell_measurement_with_mismatched_columns():
    with pytest.raises(ValueError, match="protein_expression"):
        _populated(
            _counts(6, 5),
            Ys=[
                CellMeasurement(
                    name="protein_expression",
                    data=_proteins(6, 3),
                    columns_attr_name="protein_names",
                    columns=["a", "b"],
                )
            ],
        )
    with pytest.raises(ValueError, match="protein_expression"):
        _populated(
            _counts(6, 5),
            Ys=[
                CellMeasurement(
                    name="protein_expression",
                    data=_proteins(4, 2),
                    columns_attr_name="protein_names",
                    columns=["a", "b"],
                )
            ],
        )


def test_cell_and_gene_attribute_dicts_registered():
    X = _counts(4, 3)
    dataset = _populated(
        X,
        cell_attributes_dict={"donor": np.array([7, 8, 7, 9])},
        gene_attributes_dict={"chrom": ["1", "X", "2"]},
    )
    assert "donor" in dataset.cell_attribute_names
    assert "donor" not in dataset.cell_categorical_attribute_names
    assert "chrom" in dataset.gene_attribute_names
    np.testing.assert_array_equal(dataset.donor, [7, 8, 7, 9])
    np.testing.assert_array_equal(dataset.chrom, ["1", "X", "2"])

    # registered attributes follow the updates
    dataset.update_cells([3, 0])
    np.testing.assert_array_equal(dataset.donor, [9, 7])
    dataset.update_genes([2, 0])
    np.testing.assert_array_equal(dataset.chrom, ["2", "1"])
    np.testing.assert_array_equal(dataset.gene_names, ["2", "0"])


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "bad, message", [(-1.0, "negative"), (np.nan, "NaN"), (np.inf, "infinite")]
)
def test_bad_counts_raise(sparse, bad, message):
    X = _counts(4, 3)
    X[2, 1] = bad
    X = sp_sparse.csr_matrix(X) if sparse else X
    with pytest.raises(ValueError, match=message) as info:
        _populated(X)
    assert str(info.value).startswith("X ")


def test_one_dimensional_counts_raise():
    with pytest.raises(ValueError, match="X must be a 2-D"):
        _populated(np.arange(5.0))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"batch_indices": [0, 1, 0]}, "batch_indices"),
        ({"labels": [0, 1, 0, 1, 0]}, "labels"),
        ({"labels": np.array(["a", "b"])}, "labels"),
        ({"gene_names": ["a", "b"]}, "gene_names"),
        ({"cell_attributes_dict": {"donor": [1, 2]}}, "donor"),
        ({"gene_attributes_dict": {"chrom": ["1"] * 5}}, "chrom"),
    ],
)
def test_wrong_lengths_raise_and_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _populated(_counts(4, 3), **kwargs)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([[2], [0], [2]]),
        sp_sparse.csr_matrix(np.array([[2], [0], [2]])),
        np.array([2.0, 0.0, 2.0]),
        [2, 0, 2],
    ],
)
def test_label_and_batch_input_forms(labels):
    dataset = _populated(_counts(3, 4), labels=labels, batch_indices=labels)
    for name in ("labels", "batch_indices"):
        values = getattr(dataset, name)
        assert values.shape == (3, 1) and values.dtype == np.int64
        np.testing.assert_array_equal(values.ravel(), [1, 0, 1])
    np.testing.assert_array_equal(dataset.cell_types, ["0", "2"])


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"labels": [0.5, 1.0, 0.0]}, "labels"),
        ({"batch_indices": [0, -1, 0]}, "batch_indices"),
        ({"batch_indices": [0.0, np.nan, 1.0]}, "batch_indices"),
    ],
)
def test_bad_category_codes_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _populated(_counts(3, 4), **kwargs)


def test_initialize_attributes_check_lengths():
    dataset = _populated(_counts(4, 3))
    with pytest.raises(ValueError, match="donor"):
        dataset.initialize_cell_attribute("donor", np.arange(5))
    with pytest.raises(ValueError, match="chrom"):
        dataset.initialize_gene_attribute("chrom", np.arange(4))
    assert "donor" not in dataset.cell_attribute_names
    assert "chrom" not in dataset.gene_attribute_names


@pytest.mark.parametrize("sparse", [False, True])
def test_non_integer_counts_warn_once(sparse):
    X = _counts(4, 3)
    X[1, 2] = 0.5
    X = sp_sparse.csr_matrix(X) if sparse else X
    with pytest.warns(UserWarning) as records:
        dataset = _populated(X)
    user = [r for r in records if issubclass(r.category, UserWarning)]
    assert len(user) == 1
    assert "non-integer" in str(user[0].message)
    dense = dataset.X.toarray() if sparse else dataset.X
    assert dense[1, 2] == 0.5


def test_integer_counts_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _populated(_counts(4, 3))


@pytest.mark.parametrize("fmt", ["csc", "coo"])
def test_csc_and_coo_become_csr(fmt):
    X = _counts(5, 4)
    X[2] = 0
    X[2, 3] = 2
    dataset = _populated(sp_sparse.csr_matrix(X).asformat(fmt))
    assert sp_sparse.isspmatrix_csr(dataset.X)
    np.testing.assert_array_equal(dataset.X.toarray(), X)


# --------------------------------------------------------------- registries
def test_initialize_cell_attribute_named_x_is_renamed():
    dataset = _populated(_counts(4, 3))
    X_before = dataset.X.copy()
    dataset.initialize_cell_attribute("X", np.array([1, 2, 3, 4]))
    assert "X_cell" in dataset.cell_attribute_names
    assert "X" not in dataset.cell_attribute_names
    np.testing.assert_array_equal(dataset.X_cell, [1, 2, 3, 4])
    np.testing.assert_array_equal(dataset.X, X_before)


def test_initialize_categorical_cell_attribute():
    dataset = _populated(_counts(4, 3))
    dataset.initialize_cell_attribute("donor", [1, 0, 1, 1], categorical=True)
    assert "donor" in dataset.cell_categorical_attribute_names
    assert dataset.donor.shape == (4, 1)
    np.testing.assert_array_equal(dataset.donor.ravel(), [1, 0, 1, 1])


def test_initialize_mapped_attribute():
    dataset = _populated(_counts(4, 3))
    dataset.initialize_cell_attribute("donor", [1, 0, 1, 1], categorical=True)
    dataset.initialize_mapped_attribute("donor", "donor_names", ["d0", "d1"])
    assert dataset.attribute_mappings["donor"] == ["donor_names"]
    np.testing.assert_array_equal(dataset.donor_names, ["d0", "d1"])

    dataset.initialize_cell_attribute("age", [30, 40, 50, 60])
    with pytest.raises(ValueError, match="age"):
        dataset.initialize_mapped_attribute("age", "age_names", ["a"] * 61)
    assert "age" not in dataset.attribute_mappings
    with pytest.raises(ValueError, match="donor_names"):
        dataset.initialize_mapped_attribute("donor", "donor_names", ["d0"])


def test_register_dataset_version_checks_shape():
    dataset = _populated(_counts(4, 3))
    dataset.scaled = np.asarray(dataset.X) * 2
    dataset.register_dataset_version("scaled")
    assert "scaled" in dataset.dataset_versions
    dataset.update_cells([2, 0])
    np.testing.assert_array_equal(dataset.scaled, _counts(4, 3)[[2, 0]] * 2)

    dataset.wrong = np.zeros((2, 2))
    with pytest.raises(ValueError, match="wrong"):
        dataset.register_dataset_version("wrong")
    with pytest.raises(ValueError, match="missing"):
        dataset.register_dataset_version("missing")
    assert "wrong" not in dataset.dataset_versions


def test_len_getitem_and_counts():
    dataset = _populated(
        _counts(7, 4), batch_indices=[0, 0, 1, 1, 1, 2, 2], labels=[0, 1] * 3 + [1]
    )
    assert len(dataset) == 7
    assert [dataset[i] for i in (0, 3, 6)] == [0, 3, 6]
    assert dataset.nb_cells == 7 and dataset.nb_genes == 4
    assert dataset.n_batches == 3 and dataset.n_labels == 2


def test_repr():
    dataset = _populated(
        _counts(6, 5),
        Ys=[
            CellMeasurement(
                name="protein_expression",
                data=_proteins(6, 2),
                columns_attr_name="protein_names",
                columns=["p1", "p2"],
            )
        ],
    )
    lines = repr(dataset).split("\n")
    assert lines[0] == "GeneExpressionDataset object with n_cells x nb_genes = 6 x 5"
    body = {}
    for line in lines[1:]:
        key, _, value = line.strip().partition(": ")
        body[key] = value
    assert set(body) == {
        "gene_attribute_names",
        "cell_attribute_names",
        "cell_categorical_attribute_names",
        "cell_measurements_col_mappings",
    }
    assert "'gene_names'" in body["gene_attribute_names"]
    for name in ("batch_indices", "labels", "local_means", "local_vars"):
        assert repr(name) in body["cell_attribute_names"]
    assert "'protein_expression'" in body["cell_attribute_names"]
    assert "'local_means'" not in body["cell_categorical_attribute_names"]
    assert "'protein_names'" in body["cell_measurements_col_mappings"]
    assert repr(GeneExpressionDataset()).startswith("GeneExpressionDataset object")


# ---------------------------------------------------------- remap_categories
def test_remap_categories_default():
    new, n = remap_categories(np.array([3, 5, 3, 9]))
    np.testing.assert_array_equal(new, [0, 1, 0, 2])
    assert new.dtype == np.int64
    assert n == 3

    column = np.array([[5], [3], [5]])
    new, n = remap_categories(column)
    assert new.shape == (3, 1)
    np.testing.assert_array_equal(new.ravel(), [1, 0, 1])
    assert n == 2


def test_remap_categories_with_mappings_dict():
    names = np.array(["a", "b", "c", "d", "e", "f"])
    new, n, mappings = remap_categories(
        np.array([3, 5, 3]), mappings_dict={"cell_types": names}
    )
    np.testing.assert_array_equal(new, [0, 1, 0])
    assert n == 2
    assert set(mappings) == {"cell_types"}
    np.testing.assert_array_equal(mappings["cell_types"], ["d", "f"])
    # every cell keeps its name
    np.testing.assert_array_equal(mappings["cell_types"][new], names[[3, 5, 3]])


def test_remap_categories_mapping_from_and_to():
    names = np.array(["a", "b", "c", "d", "e", "f"])
    original = np.array([3, 5, 3, 0])
    new, n, mappings = remap_categories(
        original,
        mapping_from=[5, 3, 0],
        mapping_to=[0, 1, 2],
        mappings_dict={"cell_types": names},
    )
    np.testing.assert_array_equal(new, [1, 0, 1, 2])
    assert n == 3
    np.testing.assert_array_equal(mappings["cell_types"], ["f", "d", "a"])
    np.testing.assert_array_equal(mappings["cell_types"][new], names[original])

    # mapping_to may merge categories
    new, n = remap_categories(original, mapping_from=[0, 3, 5], mapping_to=[1, 1, 0])
    np.testing.assert_array_equal(new, [1, 0, 1, 1])
    assert n == 2

    # mapping_from alone: codes become positions in it
    new, n = remap_categories(original, mapping_from=[5, 0, 3])
    np.testing.assert_array_equal(new, [2, 0, 2, 1])
    assert n == 3


def test_remap_categories_errors():
    with pytest.raises(ValueError, match="mapping_from"):
        remap_categories(np.array([3, 5, 4]), mapping_from=[3, 5])
    with pytest.raises(ValueError, match="mapping_to"):
        remap_categories(np.array([3, 5]), mapping_from=[3, 5], mapping_to=[0])


def test_failed_populate_leaves_the_dataset_unchanged():
    dataset = GeneExpressionDataset()
    X = np.arange(1, 13).reshape(4, 3)
    dataset.populate_from_data(X, gene_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="quality has 2 entries"):
        dataset.populate_from_data(
            np.ones((5, 2)), cell_attributes_dict={"quality": [1, 2]}
        )
    np.testing.assert_array_equal(dataset.X, X)
    np.testing.assert_array_equal(dataset.gene_names, ["a", "b", "c"])
    assert "quality" not in dataset.cell_attribute_names
    assert dataset.local_means.shape == (4, 1)


def test_merge_cell_types_refuses_an_existing_name():
    dataset = GeneExpressionDataset()
    dataset.populate_from_data(
        np.ones((3, 2)), labels=[0, 1, 2], cell_types=list("abc")
    )
    with pytest.raises(ValueError, match="'c' is already a cell type"):
        dataset.merge_cell_types(["a", "b"], "c")
    np.testing.assert_array_equal(dataset.cell_types, list("abc"))
