"""The package that the launcher and every Dataflow worker install (`--setup_file ./setup.py`)."""

import setuptools

REQUIRED = [
    "apache-beam[gcp]==2.77.0",
    "tensorflow==2.21.0",
    "tensorflow-hub==0.16.1",
    "tfx-bsl==1.21.0",
    "google-cloud-storage==3.17.1",
    "pillow==12.3.0",
    # tensorflow-hub 0.16.1 imports pkg_resources, which setuptools 81 removed.
    "setuptools<81",
]

TEST = [
    "pytest==9.2.0",
    "hypothesis==6.170.17",
    "psutil==7.2.2",  # benchmarks/throughput.py --rss
    "ruff==0.17.6",
    # Real photos for the tests ship inside these wheels.
    "scikit-image==0.26.0",
    "scikit-learn==1.9.1",
    # Cloud Storage and BigQuery protocol emulators for tests/test_cloud.py. bqemulator loads
    # DuckDB's spatial extension at start, and its avro extension to load Avro files: pinned
    # with their wheels so nothing is downloaded.
    "gcp-storage-emulator==2026.7.19",
    "bqemulator==1.4.0",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "duckdb-extension-avro==1.5.5",
    # Drives the system's Chromium (Debian's `chromium`, which .ci/run installs) for the report
    # page's browser test; it downloads no browser of its own.
    "playwright==1.65.2",
]

setuptools.setup(
    name="b4-embeddings",
    version="0.1.0",
    description="EfficientNet-B4 feature vectors for whole image collections on Apache Beam",
    # Every pinned package publishes wheels for CPython 3.11, 3.12 and 3.13.
    python_requires=">=3.11,<3.14",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ],
    packages=["pipeline", "transforms"],
    install_requires=REQUIRED,
    extras_require={"test": TEST},
)
