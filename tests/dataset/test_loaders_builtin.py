"""Built-in loaders (Cortex, Hemato, CITE-seq, osmFISH, seqFISH, seqFISH+) and the
synthetic datasets, checked against values read independently from the fixtures."""

import contextlib
import csv
import gzip
import logging
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import loompy
import numpy as np
import pandas as pd
import pytest

import scvi
from scvi.dataset.cite_seq import CbmcDataset, CiteSeqDataset
from scvi.dataset.cortex import CortexDataset
from scvi.dataset.hemato import HematoDataset
from scvi.dataset.seqfish import SeqfishDataset, read_xlsx
from scvi.dataset.seqfishplus import SeqFishPlusDataset
from scvi.dataset.smfish import SmfishDataset, high_level_cluster
from scvi.dataset.synthetic import SyntheticRandomDataset

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FIXTURES = SHARED / "scvi-0.6-fixtures"


def _copy(tmp_path, *names):
    """Copy fixture files or folders into tmp_path (skip the test if absent)."""
    for name in names:
        source = FIXTURES / name
        if not source.exists():
            pytest.skip(f"fixture {source} missing")
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy(source, target)
    return str(tmp_path)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _logged(name):
    """Messages logged by logger ``name`` (works without pytest's caplog)."""
    logger, handler = logging.getLogger(name), _Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _names(dataset, mapping="cell_types", codes="labels"):
    return getattr(dataset, mapping)[np.asarray(getattr(dataset, codes)).ravel()]


# ----------------------------------------------------------------------- Cortex
def _read_cortex(path):
    rows = list(csv.reader(open(path, newline=""), delimiter="\t"))
    genes = [r for r in rows if r and r[0] not in ("", "(none)")]
    meta = {r[1]: r[2:] for r in rows if r and r[0] in ("", "(none)") and r[1]}
    names = np.array([r[0] for r in genes])
    counts = np.array([[float(v) for v in r[2:]] for r in genes]).T
    n = counts.shape[0]
    return names, counts, np.array(meta["level1class"][:n]), meta["level2class"][:n]


def test_cortex_all_genes_matches_file(tmp_path):
    save_path = _copy(tmp_path, "expression.bin")
    names, counts, level1, level2 = _read_cortex(tmp_path / "expression.bin")
    with _logged("scvi.dataset.cortex") as messages:
        dataset = CortexDataset(save_path=save_path, total_genes=None)
    assert "Loading Cortex data" in messages
    assert "Finished preprocessing Cortex data" in messages
    assert dataset.X.shape == (62, 63) == counts.shape
    np.testing.assert_array_equal(dataset.gene_names, names)
    np.testing.assert_array_equal(dataset.X, counts)
    assert list(dataset.cell_types) == sorted(set(level1))
    assert len(dataset.cell_types) == 7
    np.testing.assert_array_equal(_names(dataset), level1)
    precise = _names(dataset, "precise_cell_types", "precise_labels")
    np.testing.assert_array_equal(precise, level2)
    assert "precise_labels" in dataset.cell_attribute_names
    assert "precise_labels" not in dataset.cell_categorical_attribute_names
    assert set(np.unique(dataset.batch_indices)) == {0}


def test_cortex_gene_selection(tmp_path):
    save_path = _copy(tmp_path, "expression.bin")
    names, counts, _, _ = _read_cortex(tmp_path / "expression.bin")
    variances = counts.var(axis=0)
    keep = ["Acta2", "THY1"]
    dataset = CortexDataset(save_path=save_path, genes_to_keep=keep, total_genes=6)
    assert list(dataset.gene_names[:2]) == keep
    others = [i for i in np.argsort(-variances, kind="stable") if names[i] not in keep]
    assert list(dataset.gene_names[2:]) == list(names[others[:4]])
    np.testing.assert_array_equal(
        dataset.X[:, 0], counts[:, list(names).index("Acta2")]
    )
    only = CortexDataset(save_path=save_path, genes_to_keep=keep, total_genes=None)
    assert list(only.gene_names) == keep
    default = CortexDataset(save_path=save_path)  # 558 > 63 genes: all, by variance
    assert default.nb_genes == 63 and set(default.gene_names) == set(names)
    assert default.gene_names[0] == names[np.argmax(variances)]
    with pytest.raises(ValueError, match="not in the Cortex data"):
        CortexDataset(save_path=save_path, genes_to_keep=["thy1"])
    with pytest.raises(ValueError, match="total_genes"):
        CortexDataset(save_path=save_path, total_genes=0)


def _write_cortex(path, gene_rows, level1=("a", "b", "a"), level2=("x", "y", "z")):
    lines = [
        "\ttissue\tctx\tctx\tctx",
        "(none)\tlevel1class\t" + "\t".join(level1),
        "(none)\tlevel2class\t" + "\t".join(level2),
        "\t\t\t\t",
    ] + ["\t".join(row) for row in gene_rows]
    path.write_text("\n".join(lines) + "\n")


def test_cortex_tiny_file_and_errors(tmp_path):
    good = [["g1", "1", "0", "2", "5"], ["NA", "1", "3", "0", "1"]]
    _write_cortex(tmp_path / "expression.bin", good)
    dataset = CortexDataset(save_path=str(tmp_path), total_genes=None)
    np.testing.assert_array_equal(dataset.X, [[0, 3], [2, 0], [5, 1]])
    assert list(dataset.gene_names) == ["g1", "NA"]
    assert list(_names(dataset)) == ["a", "b", "a"]
    assert list(_names(dataset, "precise_cell_types", "precise_labels")) == [
        "x",
        "y",
        "z",
    ]
    delayed = CortexDataset(save_path=str(tmp_path), delayed_populating=True)
    assert delayed.nb_cells == 0
    _write_cortex(tmp_path / "expression.bin", good + [["g3", "1", "1", "2"]])
    with pytest.raises(ValueError, match="g3"):
        CortexDataset(save_path=str(tmp_path))
    _write_cortex(tmp_path / "expression.bin", good, level1=("a", "b"))
    with pytest.raises(ValueError, match="'level1class' row has 2 values for 3"):
        CortexDataset(save_path=str(tmp_path))
    _write_cortex(tmp_path / "expression.bin", [["g1", "1", "0", "x", "5"]])
    with pytest.raises(ValueError, match="non-numeric"):
        CortexDataset(save_path=str(tmp_path))
    (tmp_path / "expression.bin").write_text("\ttissue\tctx\n")
    with pytest.raises(ValueError, match="no gene rows"):
        CortexDataset(save_path=str(tmp_path))


# ----------------------------------------------------------------------- Hemato
def test_hemato_matches_files(tmp_path):
    save_path = _copy(tmp_path, "HEMATO") + "/HEMATO"
    folder = tmp_path / "HEMATO"
    genes = (folder / "bBM.filtered_gene_list.paper.txt").read_text().split()
    counts = pd.read_csv(folder / "bBM.raw_umifm_counts.csv.gz")
    spring = pd.read_csv(folder / "bBM.spring_and_pba.csv")
    dataset = HematoDataset(save_path=save_path)
    assert dataset.X.shape == (50, 10)
    assert list(dataset.gene_names) == genes
    np.testing.assert_array_equal(dataset.X, counts[genes].to_numpy())
    np.testing.assert_allclose(dataset.x_spring.ravel(), spring["x_spring"])
    np.testing.assert_allclose(dataset.y_spring.ravel(), spring["y_spring"])
    np.testing.assert_allclose(dataset.potential.ravel(), spring["Potential"])
    fates = [c for c in spring.columns if c.startswith("Pr_")]
    assert list(dataset.fate_names) == fates
    np.testing.assert_allclose(
        dataset.fate_probabilities, spring[fates].to_numpy(), rtol=1e-6
    )
    assert list(dataset.batch_names) == ["na"] and dataset.n_batches == 1


def _write_hemato(folder, genes=("G1", "G2")):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bBM.filtered_gene_list.paper.txt").write_text("\n".join(genes) + "\n")
    with gzip.open(folder / "bBM.raw_umifm_counts.csv.gz", "wt") as handle:
        handle.write("cell_id,library_id,G0,G1,G2\n")
        handle.write("c1,basal_bm2,9,1,2\nc2,basal_bm1,9,3,4\n")
        handle.write("c3,basal_bm3,9,5,6\nc4,basal_bm2,9,7,8\nc5,basal_bm3,9,9,9\n")
    (folder / "bBM.spring_and_pba.csv").write_text(
        "cell_id,x_spring,y_spring,Potential,Pr_Er,Pr_Gr\n"
        "c4,4,-4,0.4,0.1,0.9\nc1,1,-1,0.1,0.5,0.5\nc2,2,-2,0.2,0,1\nc3,3,-3,0.3,1,0\n"
    )


def test_hemato_libraries_cells_and_archive(tmp_path):
    source = tmp_path / "made"
    _write_hemato(source)
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as archive:
        for path in source.iterdir():
            archive.write(path, f"data/{path.name}")
    save = tmp_path / "save"
    save.mkdir()
    shutil.copy(tmp_path / "data.zip", save / "data.zip")
    dataset = HematoDataset(save_path=str(save))  # files taken out of data.zip
    # basal_bm1 removed, c5 lacks SPRING coordinates; order of the counts file
    np.testing.assert_array_equal(dataset.X, [[1, 2], [5, 6], [7, 8]])
    assert list(dataset.batch_names) == ["basal_bm2", "basal_bm3"]
    assert list(dataset.batch_indices.ravel()) == [0, 1, 0]
    assert list(dataset.x_spring.ravel()) == [1, 3, 4]
    _write_hemato(tmp_path / "bad", genes=("G1", "G7"))
    with pytest.raises(ValueError, match="G7"):
        HematoDataset(save_path=str(tmp_path / "bad"))


def test_hemato_downloads_the_archive_when_needed(tmp_path, monkeypatch):
    _write_hemato(tmp_path / "made")
    fetched = []

    def fake_download(url, path):
        fetched.append(url)
        with zipfile.ZipFile(path, "w") as archive:
            for source in (tmp_path / "made").iterdir():
                archive.write(source, source.name)

    monkeypatch.setattr("scvi.dataset.hemato.download_file", fake_download)
    dataset = HematoDataset(save_path=str(tmp_path / "empty"))
    assert len(fetched) == 1 and fetched[0].endswith("data.zip")
    assert dataset.X.shape == (3, 2)
    HematoDataset(save_path=str(tmp_path / "empty"))  # files now there
    assert len(fetched) == 1


def test_hemato_archive_without_the_files(tmp_path):
    _copy(tmp_path, "HEMATO")
    (tmp_path / "HEMATO" / "bBM.spring_and_pba.csv").unlink()
    with pytest.raises(FileNotFoundError, match="bBM.spring_and_pba.csv"):
        HematoDataset(save_path=str(tmp_path / "HEMATO"))


# --------------------------------------------------------------------- CITE-seq
@pytest.mark.parametrize("name", ["cbmc", "pbmc"])
def test_cite_seq_matches_files(tmp_path, name):
    save_path = _copy(tmp_path, "citeSeq") + "/citeSeq"
    folder = tmp_path / "citeSeq" / name
    rna = pd.read_csv(folder / f"{name}_rna.csv.gz", index_col=0)
    adt = pd.read_csv(folder / f"{name}_adt.csv.gz", index_col=0)
    clr = pd.read_csv(folder / f"{name}_adt_centered.csv.gz", index_col=0)
    dataset = CiteSeqDataset(name=name, save_path=save_path)
    assert dataset.X.shape == (20, 50)
    np.testing.assert_array_equal(dataset.X, rna.to_numpy().T)
    np.testing.assert_array_equal(dataset.gene_names, rna.index)
    assert list(dataset.protein_names) == list(adt.index) == ["CD3", "CD4", "CD8"]
    np.testing.assert_array_equal(dataset.protein_expression, adt.to_numpy().T)
    np.testing.assert_allclose(dataset.protein_expression_clr, clr.to_numpy().T, 1e-6)
    assert dataset.cell_measurements_col_mappings == {
        "protein_expression": "protein_names"
    }
    cbmc = CbmcDataset(save_path=save_path)  # fewer than 600 genes: all kept
    assert cbmc.nb_genes == 50


def _write_cite(folder, name, n_genes, barcodes, adt_barcodes):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    rna = pd.DataFrame(
        rng.poisson(rng.uniform(0.1, 20, size=(n_genes, 1)), (n_genes, len(barcodes))),
        index=[f"HUMAN_G{i}" for i in range(n_genes)],
        columns=barcodes,
    )
    adt = pd.DataFrame(
        np.arange(2 * len(adt_barcodes)).reshape(2, -1),
        index=["CD3", "CD4"],
        columns=adt_barcodes,
    )
    rna.to_csv(folder / f"{name}_rna.csv.gz")
    adt.to_csv(folder / f"{name}_adt.csv.gz")
    (adt / 10).to_csv(folder / f"{name}_adt_centered.csv.gz")
    return rna, adt


def test_cbmc_keeps_600_genes_and_aligns_barcodes(tmp_path):
    barcodes = [f"B{i}" for i in range(8)]
    rna, adt = _write_cite(tmp_path / "cbmc", "cbmc", 650, barcodes, barcodes[::-1])
    dataset = CbmcDataset(save_path=str(tmp_path))
    assert dataset.nb_genes == 600
    variances = rna.to_numpy().var(axis=1, ddof=1)
    dropped = set(rna.index) - set(dataset.gene_names)
    assert max(variances[rna.index.isin(dropped)]) <= min(
        variances[rna.index.isin(dataset.gene_names)]
    )
    np.testing.assert_array_equal(dataset.protein_expression, adt[barcodes].T)
    _write_cite(tmp_path / "pbmc", "pbmc", 5, barcodes, barcodes[:-1])
    with pytest.raises(ValueError, match="lacks 1 cells"):
        CiteSeqDataset(name="pbmc", save_path=str(tmp_path))
    with gzip.open(tmp_path / "pbmc" / "pbmc_adt.csv.gz", "wt") as handle:
        handle.write(",B0,B1\nCD3,1,oops\n")
    with pytest.raises(ValueError, match="pbmc_adt.csv.gz has non-numeric"):
        CiteSeqDataset(name="pbmc", save_path=str(tmp_path))
    with gzip.open(tmp_path / "pbmc" / "pbmc_adt.csv.gz", "wt") as handle:
        handle.write(",B0,B1\nCD3,1\n")
    with pytest.raises(ValueError, match="empty or non-numeric"):
        CiteSeqDataset(name="pbmc", save_path=str(tmp_path))
    with pytest.raises(ValueError, match=r"\['cbmc', 'cd8', 'pbmc'\].*'cd4'"):
        CiteSeqDataset(name="cd4", save_path=str(tmp_path))


# ---------------------------------------------------------------------- osmFISH
# the grouping expected for each fine cluster of the fixture
_HIGH = {
    "Astrocytes": ["Astrocyte Gfap", "Astrocyte Mfge8", "C. Plexus", "Ependymal"],
    "Endothelials": [
        "Endothelial",
        "Endothelial 1",
        "Pericytes",
        "Vascular Smooth Muscle",
    ],
    "Inhibitory": [
        "Inhibitory CP",
        "Inhibitory Cnr1",
        "Inhibitory Crhbp",
        "Inhibitory IC",
        "Inhibitory Kcnip2",
        "Inhibitory Pthlh",
        "Inhibitory Vip",
    ],
    "Microglias": ["Microglia", "Perivascular Macrophages"],
    "Oligodendrocytes": [
        "Oligodendrocyte COP",
        "Oligodendrocyte MF",
        "Oligodendrocyte Mature",
        "Oligodendrocyte NF",
        "Oligodendrocyte Precursor cells",
    ],
    "Pyramidals": [
        "Hippocampus",
        "Pyramidal Cpne5",
        "Pyramidal Kcnip2",
        "Pyramidal L2-3",
        "Pyramidal L2-3 L5",
        "Pyramidal L3-4",
        "Pyramidal L5",
        "Pyramidal L6",
        "pyramidal L4",
    ],
}


def test_smfish_matches_loom(tmp_path):
    loom = "osmFISH_SScortex_mouse_all_cell.loom"
    save_path = _copy(tmp_path, loom)
    with loompy.connect(str(tmp_path / loom), "r") as ds:
        counts, genes = ds[:, :].T, ds.ra["Gene"]
        clusters, xs, ys = ds.ca["ClusterName"], ds.ca["X"], ds.ca["Y"]
    kept = clusters != "Excluded"
    expected = {fine: high for high, fines in _HIGH.items() for fine in fines}
    assert set(clusters[kept]) == set(expected)
    dataset = SmfishDataset(save_path=save_path)
    assert dataset.X.shape == (62, 33) and kept.sum() == 62
    np.testing.assert_array_equal(dataset.gene_names, genes)
    np.testing.assert_array_equal(dataset.X, counts[kept])
    np.testing.assert_array_equal(dataset.x_coord.ravel(), xs[kept])
    np.testing.assert_array_equal(dataset.y_coord.ravel(), ys[kept])
    assert list(dataset.cell_types) == sorted(_HIGH)
    assert list(_names(dataset)) == [expected[c] for c in clusters[kept]]
    fine = SmfishDataset(save_path=save_path, use_high_level_cluster=False)
    # as in scVI 0.6.8: every cell (Excluded too), cell types by ClusterID
    assert list(fine.cell_types)[:2] == ["Excluded", "Pyramidal L6"]
    assert set(fine.cell_types) == set(clusters)
    np.testing.assert_array_equal(fine.X, counts)
    np.testing.assert_array_equal(_names(fine), clusters)
    assert high_level_cluster("Excluded") is None


def _write_loom(path, col_attrs):
    matrix = np.arange(1, 7).reshape(2, 3)
    loompy.create(str(path), matrix, {"Gene": np.array(["a", "b"])}, col_attrs)


def test_smfish_unknown_cluster_and_missing_attribute(tmp_path):
    name = "osmFISH_SScortex_mouse_all_cell.loom"
    cols = {
        "ClusterName": np.array(["Inhibitory Vip", "Mystery", "Pyramidal L5"]),
        "X": np.array([1.0, 2.0, 3.0]),
        "Y": np.array([4.0, 5.0, 6.0]),
    }
    _write_loom(tmp_path / name, cols)
    with _logged("scvi.dataset.smfish") as messages:
        dataset = SmfishDataset(save_path=str(tmp_path))
    assert any("Mystery" in message for message in messages)
    np.testing.assert_array_equal(dataset.X, [[1, 4], [3, 6]])
    assert list(dataset.cell_types) == ["Inhibitory", "Pyramidals"]
    assert list(dataset.y_coord.ravel()) == [4.0, 6.0]
    (tmp_path / name).unlink()
    del cols["Y"]
    _write_loom(tmp_path / name, cols)
    with pytest.raises(ValueError, match="no column attribute 'Y'"):
        SmfishDataset(save_path=str(tmp_path))


# ----------------------------------------------------------------------- seqFISH
def test_seqfish_matches_workbook(tmp_path):
    save_path = _copy(tmp_path, "SeqFISH.xlsx")
    with zipfile.ZipFile(tmp_path / "SeqFISH.xlsx") as archive:
        strings = re.findall(
            r"<t[^>]*>([^<]*)</t>", archive.read("xl/sharedStrings.xml").decode()
        )
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    rows = re.findall(r"<row [^>]*>(.*?)</row>", sheet)
    values = [[float(v) for v in re.findall(r"<v>([^<]*)</v>", r)[1:]] for r in rows]
    dataset = SeqfishDataset(save_path=save_path)
    assert dataset.X.shape == (49, 248)
    expected = [s.replace("&apos;", "") for s in strings]
    assert list(dataset.gene_names) == expected and expected[0] == "Dmbx1"
    np.testing.assert_array_equal(dataset.X, np.array(values).T)


def _write_xlsx(path, sheets):
    """A workbook written by openpyxl: ``sheets`` maps names to rows of values
    (None leaves a cell empty)."""
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is not None:
                    sheet.cell(row=r, column=c, value=value)
    book.save(path)


def test_read_xlsx_cell_kinds(tmp_path):
    first = [
        ["'GeneA'", 3, None, True],
        [],
        ["GeneB", None, 2.5, None, "txt"],
        [],
    ]
    second = [[None, "#N/A", 7]]
    path = tmp_path / "book.xlsx"
    _write_xlsx(path, {"Counts": first, "Other": second})
    assert read_xlsx(str(path)) == [
        ["'GeneA'", 3.0, None, True, None],
        [None] * 5,
        ["GeneB", None, 2.5, None, "txt"],
    ]
    assert read_xlsx(str(path), "Other") == [[None, None, 7.0]]
    assert read_xlsx(str(path), 1) == read_xlsx(str(path), "Other")
    with pytest.raises(ValueError, match="no sheet named 'Nope'"):
        read_xlsx(str(path), "Nope")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .xlsx"):
        read_xlsx(str(tmp_path / "broken.xlsx"))


def test_seqfish_tiny_workbook_and_bad_counts(tmp_path):
    rows = [[None, "cell1"], ["'Gad2'", 4, 0], ["Sst", 1, 2]]
    _write_xlsx(tmp_path / "SeqFISH.xlsx", {"Hippocampus Counts": rows})
    dataset = SeqfishDataset(save_path=str(tmp_path))
    assert list(dataset.gene_names) == ["Gad2", "Sst"]
    np.testing.assert_array_equal(dataset.X, [[4, 1], [0, 2]])
    bad = [["'Gad2'", 4, 0], ["Sst", 1, "x"]]
    _write_xlsx(tmp_path / "SeqFISH.xlsx", {"Counts": bad})
    with pytest.raises(ValueError, match="row 2 \\(Sst\\)"):
        SeqfishDataset(save_path=str(tmp_path))


# ---------------------------------------------------------------------- seqFISH+
@pytest.mark.parametrize(
    "region, prefix",
    [("subventricular cortex", "cortex_svz"), ("olfactory bulb", "ob")],
)
def test_seqfishplus_matches_csv(tmp_path, region, prefix):
    save_path = _copy(tmp_path, "seqfishplus.zip")
    with zipfile.ZipFile(tmp_path / "seqfishplus.zip") as archive:
        counts = pd.read_csv(
            archive.open(f"sourcedata/{prefix}_counts.csv"), index_col=0
        )
        centroids = pd.read_csv(
            archive.open(f"sourcedata/{prefix}_cellcentroids.csv"), index_col=0
        )
    dataset = SeqFishPlusDataset(tissue_region=region, save_path=save_path)
    assert dataset.X.shape == counts.shape == (10, 10)
    np.testing.assert_array_equal(dataset.gene_names, counts.columns)
    np.testing.assert_array_equal(dataset.X, counts.to_numpy())
    np.testing.assert_array_equal(dataset.x_coord.ravel(), centroids["X"])
    np.testing.assert_array_equal(dataset.y_coord.ravel(), centroids["Y"])
    np.testing.assert_array_equal(dataset.cell_id.ravel(), centroids["Cell ID"])
    if "Region" in centroids:
        np.testing.assert_array_equal(dataset.region.ravel(), centroids["Region"])
    # extracted files are used as they are, without the archive
    (tmp_path / "seqfishplus.zip").unlink()
    again = SeqFishPlusDataset(tissue_region=region, save_path=save_path)
    np.testing.assert_array_equal(again.X, dataset.X)


def test_seqfishplus_bad_region_and_archive(tmp_path):
    with pytest.raises(ValueError, match="'subventricular cortex', 'olfactory bulb'"):
        SeqFishPlusDataset(tissue_region="cortex", save_path=str(tmp_path))
    (tmp_path / "seqfishplus.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ValueError, match="corrupt"):
        SeqFishPlusDataset(save_path=str(tmp_path))


# -------------------------------------------------------------------- synthetic
def test_synthetic_random_dataset(tmp_path):
    save_path = _copy(tmp_path, "random_metadata.pickle")
    with open(tmp_path / "random_metadata.pickle", "rb") as handle:
        content = pickle.load(handle)
    scvi.set_seed(3)
    dataset = SyntheticRandomDataset(dropout=0.0, save_path=save_path)
    assert dataset.X.shape == (1897, SyntheticRandomDataset.N_GENES)
    np.testing.assert_array_equal(_names(dataset).astype(int), content["clusters"])
    np.testing.assert_array_equal(dataset.latent, content["ydata"])
    assert 2.0 < dataset.X.mean() < 8.0  # about mu = 4
    scvi.set_seed(3)
    dropped = SyntheticRandomDataset(save_path=save_path)  # dropout 0.7
    nonzero = dropped.X > 0
    np.testing.assert_array_equal(dropped.X[nonzero], dataset.X[nonzero])
    kept = nonzero.sum() / (dataset.X > 0).sum()
    assert abs(kept - 0.3) < 0.01
    scvi.set_seed(3)
    np.testing.assert_array_equal(
        SyntheticRandomDataset(save_path=save_path).X, dropped.X
    )
    with pytest.raises(ValueError, match="dropout"):
        SyntheticRandomDataset(dropout=1.0, save_path=save_path)
    with pytest.raises(FileNotFoundError, match="random_metadata.pickle"):
        SyntheticRandomDataset(save_path=str(tmp_path / "elsewhere"))
