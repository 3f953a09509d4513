"""Packaging for scvi."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'^__version__ = "([^"]+)"', (HERE / "scvi" / "__init__.py").read_text(), re.M
).group(1)

requirements = [
    # torch is left open; install the build that fits your machine first
    # (CPU: ``pip install torch==2.13.0``), pip then keeps it.
    "torch>=1.13",
    "numpy>=1.23",
    "scipy>=1.9",
    "pandas>=1.5",
    "anndata>=0.8",
    "h5py>=3.0",
    "scikit-learn>=1.1",
    # loess fit of the seurat_v3 highly variable gene selection
    "scikit-misc>=0.2",
    "tqdm>=4.50",
    "matplotlib>=3.5",
]

# hyperopt (search spaces, TPE) and Ray (parallel trials) for scvi.inference.autotune
autotune = ["hyperopt>=0.2.7", "ray>=2.9"]
extras = {
    "autotune": autotune,
    # SeqfishDataset reads its .xlsx workbook with openpyxl
    "xlsx": ["openpyxl>=3"],
    # scanpy (gene selection) and loompy (loom files) are references for the tests;
    # loom files are read with h5py at run time; nbformat, nbconvert and ipykernel
    # execute the notebooks in tests/notebooks; openpyxl lets the tests check the
    # xlsx output of the differential expression
    "test": [
        "pytest>=7",
        "openpyxl>=3",
        "scanpy>=1.9",
        "loompy>=3.0",
        "flake8>=6",
        "black>=23",
        "nbformat>=5",
        "nbconvert>=7",
        "ipykernel>=6",
        # Leiden clustering of scanpy (flavor="igraph") in the PBMC clustering tutorial
        "igraph>=0.10",
        # builds the wheel whose contents tests/test_packaging.py checks
        "build>=1",
    ]
    + autotune,
    "notebooks": [
        "scanpy>=1.9",
        "igraph>=0.10",
        "jupyter",
        "nbconvert",
        "nbformat",
        "ipykernel",
    ],
    # myst-nb renders the notebooks of notebooks/ as the tutorials pages
    "docs": ["sphinx>=7", "numpydoc", "myst-nb>=1"],
    # benchmarks/integration.py scores latent spaces with scib-metrics (it needs jax)
    "benchmarks": ["scib-metrics>=0.5.10"],
}

setup(
    name="scvi",
    version=VERSION,
    description="Single-cell Variational Inference: probabilistic analysis of "
    "single-cell omics in PyTorch",
    long_description=(HERE / "README.rst").read_text(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["scvi", "scvi.*"]),
    install_requires=requirements,
    extras_require=extras,
    entry_points={"console_scripts": ["scvi=scvi.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Intended Audience :: Science/Research",
        "Topic :: Scientific/Engineering :: Bio-Informatics",
    ],
)
