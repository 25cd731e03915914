"""Output layouts of the generated tables: canonical CSV, WCO BACUDA, schema.toml.

CSV files are written atomically (:func:`portsift.features.writing.atomic_path`); flags
become integers with empty cells for missing values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pandas as pd

from portsift.features.contract import (
    BACUDA_COLUMNS,
    BACUDA_DATE_FORMAT,
    COMMODITY_FIELDS,
    DECLARATION_FIELDS,
    LAB_RESULT_FIELDS,
    field_names,
)
from portsift.features.writing import atomic_path

_FLAG_COLUMNS: Final = frozenset(
    f.name for f in (*DECLARATION_FIELDS, *LAB_RESULT_FIELDS, *COMMODITY_FIELDS) if f.kind == "flag"
)
_CSV_DATE_FORMAT: Final = "%Y-%m-%d"


def for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """Flags as integers with empty cells for missing values, not ``1.0`` / ``nan``.

    Args:
        frame: A table.

    Returns:
        A copy with float flag columns as nullable integers.
    """
    out = frame.copy()
    for name in out.columns:
        if name in _FLAG_COLUMNS and pd.api.types.is_float_dtype(out[name]):
            out[name] = out[name].astype("Int64")
    return out


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as the contract's CSV (ISO dates), atomically.

    Args:
        frame: The table.
        path: Where to write it.
    """
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, date_format=_CSV_DATE_FORMAT)


def schema_text(declarations: pd.DataFrame) -> str:
    """Return the ``--schema`` file that reads the further columns of ``declarations``.

    Every canonical column maps to itself under ``[columns]``; the columns beyond the
    contract (the identity columns of ``fraud="identity"``) are listed as categorical
    model inputs under ``[features]``.

    Args:
        declarations: Generated declarations.

    Returns:
        The TOML text.
    """
    canonical = field_names(DECLARATION_FIELDS)
    mapped = [name for name in canonical if name in declarations.columns]
    extra = [name for name in declarations.columns if name not in canonical]
    lines = [
        "# The layout of declarations.csv: canonical columns, and the identity columns",
        "# used as categorical model inputs (portsift train --schema schema.toml).",
        "[columns]",
        *(f'{name} = "{name}"' for name in mapped),
        "",
        "[features]",
        "categorical = [" + ", ".join(f'"{name}"' for name in extra) + "]",
        "",
    ]
    return "\n".join(lines)


def to_bacuda(declarations: pd.DataFrame) -> pd.DataFrame:
    """Convert canonical declarations to the WCO BACUDA / DATE layout of the contract.

    The same declarations in the WCO BACUDA / DATE layout of the contract (``sgd.id``,
    ``sgd.date`` as ``YY-MM-DD``, ``importer.id``, ``declarant.id``, ``country``,
    ``office.id``, ``tariff.code``, ``quantity``, ``gross.weight``, ``fob.value``,
    ``cif.value``, ``total.taxes``, ``illicit``, ``revenue``). Columns that BACUDA lacks
    are dropped.

    Args:
        declarations: Declarations with canonical column names.

    Returns:
        A new frame in BACUDA column order; BACUDA columns whose canonical field is
        absent are left out.

    Raises:
        ValueError: If a column that identifies a BACUDA file is missing.
    """
    required = ("declaration_id", "declared_at", "importer_id", "hs_code", "declared_value")
    missing = [name for name in required if name not in declarations.columns]
    if missing:
        raise ValueError(f"declarations: missing columns {missing}")
    present = {b: c for b, c in BACUDA_COLUMNS.items() if c in declarations.columns}
    out = declarations[list(present.values())].reset_index(drop=True)
    out.columns = list(present)
    out["sgd.date"] = pd.to_datetime(out["sgd.date"]).dt.strftime(BACUDA_DATE_FORMAT)
    return out
