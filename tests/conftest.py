"""Shared fixtures: the real datasets beside the project, and every dataframe engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parents[1]

# CI replays hypothesis deterministically (a red CI must be reproducible); locally it explores.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Tests never reach the network: datasets come from ../shared/data (or EVENHAND_DATA_DIR).
os.environ.setdefault("EVENHAND_OFFLINE", "1")
if "EVENHAND_DATA_DIR" not in os.environ and (ROOT.parent / "shared" / "data").is_dir():
    os.environ["EVENHAND_DATA_DIR"] = str(ROOT.parent / "shared" / "data")


def shared_data_dir() -> Path:
    """``EVENHAND_DATA_DIR`` if set, else ``../shared/data`` beside the project root."""
    env = os.environ.get("EVENHAND_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    """Multi-threaded BLAS on small test problems thrashes the 2 cores; one thread is faster."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set EVENHAND_DATA_DIR to use it)")
    return path


@pytest.fixture(scope="session")
def compas_csv(data_dir: Path) -> Path:
    path = data_dir / "compas" / "compas-scores-two-years.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    return path



@pytest.fixture(scope="session")
def spark():
    """A local Spark session (Java 17 + pyspark); skipped with a reason where unavailable."""
    pyspark_sql = pytest.importorskip("pyspark.sql", reason="pyspark is not installed")
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Java is not installed, so Spark cannot run in local mode")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("evenhand-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()

