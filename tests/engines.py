"""Convert test frames to every dataframe engine evenhand accepts."""

from __future__ import annotations

ENGINES = ["pandas", "polars", "polars_lazy", "pyarrow", "duckdb", "dict"]


def to_engine(frame, engine: str, spark_session=None):
    """Convert a polars DataFrame to the named engine's native object."""
    import polars as pl

    assert isinstance(frame, pl.DataFrame)
    if engine == "polars":
        return frame
    if engine == "polars_lazy":
        return frame.lazy()
    if engine == "pandas":
        return frame.to_pandas()
    if engine == "pyarrow":
        return frame.to_arrow()
    if engine == "dict":
        return {c: frame.get_column(c).to_numpy() for c in frame.columns}
    if engine == "duckdb":
        import duckdb

        return duckdb.connect().from_arrow(frame.to_arrow())
    if engine == "spark":
        return spark_session.createDataFrame(frame.to_arrow())
    raise ValueError(engine)
