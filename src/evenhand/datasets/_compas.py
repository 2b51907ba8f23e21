"""ProPublica's COMPAS two-year recidivism table: local copy, user cache, or public source.

The file is ``compas-scores-two-years.csv`` from ProPublica's public ``compas-analysis``
repository (the data behind the 2016 "Machine Bias" article). It has no licence file, so
evenhand never ships it: :func:`load_compas` finds a local copy, else a cached one, else
downloads it once into the cache and checks its SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Literal

import narwhals.stable.v2 as nw
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import from_any, require_columns

__all__ = ["load_compas", "propublica_filter"]

FILENAME = "compas-scores-two-years.csv"
URL = f"https://raw.githubusercontent.com/propublica/compas-analysis/master/{FILENAME}"
SHA256 = "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"
N_ROWS, N_COLUMNS = 7214, 53

DATA_DIR_ENV = "EVENHAND_DATA_DIR"
OFFLINE_ENV = "EVENHAND_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}
_TIMEOUT_S = 60


def load_compas(
    *, as_frame: Literal["polars", "pandas"] = "polars", download: bool | None = None
) -> Any:
    """Return ProPublica's COMPAS two-year recidivism table (7,214 rows × 53 columns).

    The file is looked for, in order:

    1. ``$EVENHAND_DATA_DIR/compas/compas-scores-two-years.csv``, then
       ``$EVENHAND_DATA_DIR/compas-scores-two-years.csv``;
    2. the user cache, ``$XDG_CACHE_HOME/evenhand/compas/`` (``~/.cache/evenhand/compas/``
       when ``XDG_CACHE_HOME`` is unset);
    3. ProPublica's public repository (``github.com/propublica/compas-analysis``, branch
       ``master``), downloaded into the cache, when downloading is allowed.

    Every copy, local, cached or downloaded, must match the published SHA-256
    (``c451db85…0cc7d``); a different file raises :class:`~evenhand.EvenhandError` rather
    than silently changing results.

    Parameters
    ----------
    as_frame : {"polars", "pandas"}, default "polars"
        Library of the returned table. ``"pandas"`` reads the file with
        :func:`pandas.read_csv`, as ProPublica's notebook did (pandas must be installed).
    download : bool or None, default None
        Whether the file may be downloaded when no local or cached copy exists. ``None``
        allows it unless the environment variable ``EVENHAND_OFFLINE`` is ``1``/``true``;
        ``True`` always allows it; ``False`` never does.

    Returns
    -------
    polars.DataFrame or pandas.DataFrame
        One row per defendant. Dates stay strings as in the file. The two repeated column
        names of the CSV (``decile_score``, ``priors_count``) get pandas' suffix on their
        second occurrence (``decile_score.1``, ``priors_count.1``) in both libraries.

    Raises
    ------
    EvenhandError
        If no copy is found and downloading is not allowed or fails, if a copy does not
        match the checksum, or if ``as_frame`` is not one of the two choices.

    See Also
    --------
    propublica_filter : the row filter of ProPublica's notebook (6,172 rows remain).

    Notes
    -----
    ProPublica's published error rates (false positive rate 0.4485 for African-American
    vs 0.2345 for Caucasian defendants, "Medium" or "High" score as the decision, label
    ``two_year_recid``) come from all 7,214 rows of this table, not from the filtered rows.

    Examples
    --------
    >>> from evenhand.datasets import load_compas
    >>> df = load_compas()  # doctest: +SKIP
    >>> df.shape  # doctest: +SKIP
    (7214, 53)
    """
    if as_frame not in ("polars", "pandas"):
        raise EvenhandError(
            f"The 'as_frame' parameter of load_compas must be 'polars' or 'pandas'; "
            f"got {as_frame!r}."
        )
    path = compas_path(download=download)
    header = _deduplicated_header(path)
    if as_frame == "pandas":
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the dev extra
            raise ImportError(
                "load_compas(as_frame='pandas') needs pandas: pip install pandas"
            ) from exc
        return pd.read_csv(path, header=0, names=header)
    return pl.read_csv(path, infer_schema_length=None, new_columns=header)


def compas_path(*, download: bool | None = None) -> Path:
    """Return the path of a verified local copy of the file, downloading it if allowed."""
    searched = []
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        for candidate in (Path(data_dir) / "compas" / FILENAME, Path(data_dir) / FILENAME):
            searched.append(candidate)
            if candidate.is_file():
                return _verified(candidate)
    cached = cache_dir() / "compas" / FILENAME
    searched.append(cached)
    if cached.is_file():
        return _verified(cached)
    if not _download_allowed(download):
        raise EvenhandError(
            f"{FILENAME} was not found (looked in {[str(p) for p in searched]}) and "
            f"downloading is off ({_why_offline(download)}). Put the file in "
            f"$EVENHAND_DATA_DIR/compas/, or allow the download with load_compas(download="
            f"True) or by unsetting {OFFLINE_ENV}; the file is at {URL}."
        )
    return _download(URL, cached)


def cache_dir() -> Path:
    """Return evenhand's user cache folder (``$XDG_CACHE_HOME/evenhand`` or ``~/.cache/…``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evenhand"


def _download_allowed(download: bool | None) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in _TRUE


def _why_offline(download: bool | None) -> str:
    if download is False:
        return "download=False"
    return f"{OFFLINE_ENV}={os.environ.get(OFFLINE_ENV)!r}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path) -> Path:
    actual = _sha256(path)
    if actual != SHA256:
        raise EvenhandError(
            f"{str(path)!r} does not match the published {FILENAME} (sha256 {actual!r}, "
            f"expected {SHA256!r}). Delete it so a fresh copy is used, or replace it with "
            f"the original from {URL}."
        )
    return path


def _download(url: str, target: Path) -> Path:
    """Fetch ``url`` to ``target`` atomically; the file appears only once its hash matches."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                out.write(chunk)
        actual = _sha256(tmp)
        if actual != SHA256:
            raise EvenhandError(
                f"The file downloaded from {url} does not match the published {FILENAME} "
                f"(sha256 {actual!r}, expected {SHA256!r}); nothing was cached. Download it "
                f"by hand and put it in $EVENHAND_DATA_DIR/compas/."
            )
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as exc:
        raise EvenhandError(
            f"Could not download {FILENAME} from {url} ({exc}). Check the network, or "
            f"download it by hand and put it in $EVENHAND_DATA_DIR/compas/."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _deduplicated_header(path: Path) -> list[str]:
    """Column names with pandas' ``.1`` suffix on repeats, the same in polars and pandas."""
    with path.open(newline="") as fh:
        names = next(csv.reader(fh))
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        out.append(name if count == 0 else f"{name}.{count}")
        seen[name] = count + 1
    return out


_FILTER_COLUMNS = ["days_b_screening_arrest", "is_recid", "c_charge_degree", "score_text"]


def propublica_filter(df: Any) -> Any:
    """Apply the row filter of ProPublica's COMPAS notebook (6,172 of 7,214 rows remain).

    A row is kept when all of these hold:

    - ``days_b_screening_arrest`` is between -30 and 30 inclusive (a missing value drops
      the row: the arrest and the screening cannot be matched);
    - ``is_recid != -1``;
    - ``c_charge_degree != "O"`` (ordinary traffic offences);
    - ``score_text != "N/A"``.

    Missing values in the last three columns keep the row, as pandas' ``!=`` did in the
    notebook (the file has none there).

    ProPublica used these rows for their logistic and Cox regressions, **not** for their
    published error rates, which come from all 7,214 rows; on the filtered rows the false
    positive rates are 0.4234 (African-American) vs 0.2201 (Caucasian) instead of 0.4485
    vs 0.2345. Say which population an audit uses.

    Parameters
    ----------
    df : DataFrame
        The table from :func:`load_compas`, as pandas, polars (eager or lazy) or any frame
        evenhand accepts. It is not modified.

    Returns
    -------
    DataFrame
        The kept rows, in the input's library (a dict input gives polars).

    Raises
    ------
    EvenhandError
        If one of the four columns is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from evenhand.datasets import propublica_filter
    >>> df = pl.DataFrame({
    ...     "days_b_screening_arrest": [-1, 45, 0, None],
    ...     "is_recid": [0, 1, -1, 1],
    ...     "c_charge_degree": ["F", "M", "F", "M"],
    ...     "score_text": ["Low", "High", "Medium", "Low"],
    ... })
    >>> propublica_filter(df).height
    1
    """
    frame = from_any(df)
    require_columns(frame, {"df": _FILTER_COLUMNS})
    days = nw.col("days_b_screening_arrest")

    def differs(col: str, value: Any) -> nw.Expr:
        return nw.col(col).is_null() | (nw.col(col) != value)

    kept = frame.filter(
        ~days.is_null() & (days <= 30) & (days >= -30),
        differs("is_recid", -1),
        differs("c_charge_degree", "O"),
        differs("score_text", "N/A"),
    )
    return kept.to_native()
