"""Packaging: the build backend, the wheel's contents and the conda recipe."""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import scvi

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch", "matplotlib": "matplotlib-base"}


def setup_metadata():
    """Requirements and extras of setup.py, read by running it with setup()
    replaced (no build)."""
    code = (
        "import json, setuptools, sys\n"
        "found = {}\n"
        "setuptools.setup = lambda **kw: found.update(kw)\n"
        "import runpy\n"
        f"runpy.run_path({str(ROOT / 'setup.py')!r})\n"
        "print(json.dumps({k: found[k] for k in "
        "('version', 'install_requires', 'extras_require', 'entry_points')}))"
    )
    import json

    output = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert output.returncode == 0, output.stderr
    return json.loads(output.stdout)


def split_requirement(requirement: str):
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def render_recipe():
    jinja2 = pytest.importorskip("jinja2")
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "conda" / "meta.yaml").read_text()
    rendered = jinja2.Template(text).render(PYTHON="python")
    return yaml.safe_load(rendered)


def test_pyproject_names_the_setuptools_backend():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'build-backend = "setuptools.build_meta"' in text
    # metadata is declared once, in setup.py
    assert "[project]" not in text


def test_conda_recipe_matches_setup_py():
    recipe = render_recipe()
    metadata = setup_metadata()
    assert recipe["package"]["name"] == "scvi"
    assert str(recipe["package"]["version"]) == metadata["version"] == scvi.__version__
    assert recipe["build"]["noarch"] == "python"
    run = dict(split_requirement(r) for r in recipe["requirements"]["run"])
    assert run.pop("python") == ">=3.9"
    expected = {}
    for requirement in metadata["install_requires"]:
        name, spec = split_requirement(requirement)
        expected[CONDA_NAMES.get(name, name)] = spec
    assert run == expected
    assert "scvi --help" in recipe["test"]["commands"]
    assert "scvi" in recipe["test"]["imports"]
    entry = metadata["entry_points"]["console_scripts"]
    assert recipe["build"]["entry_points"] == [e.replace("=", " = ") for e in entry]


def test_extras_are_declared_once():
    extras = setup_metadata()["extras_require"]
    assert {"test", "notebooks", "docs", "autotune"} <= set(extras)
    # the test extra pulls the optional engines so that CI tests what ships
    assert set(extras["autotune"]) <= set(extras["test"])
    assert "extras_require" not in (ROOT / "setup.cfg").read_text()


def test_wheel_holds_the_package_only(tmp_path):
    pytest.importorskip("build")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
        + ["--outdir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("scvi-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "scvi = scvi.cli:main" in archive.read(entry_points).decode()
    top = {name.split("/")[0] for name in names}
    assert top == {"scvi", f"scvi-{scvi.__version__}.dist-info"}
    data = (".h5ad", ".loom", ".h5", ".csv", ".mtx", ".npz", ".pkl", ".gz", ".ipynb")
    assert not [n for n in names if n.endswith(data)]
    assert "scvi/inference/autotune/__init__.py" in names
