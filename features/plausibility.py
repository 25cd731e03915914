"""What no input value may be, files and API alike: deceptive characters, implausible numbers.

**Characters.** portsift reads no free text: every string of a declaration or a register
is an identifier, a code, a date or a category whose history the features keep. A
control character, a bidirectional control or an invisible format character makes two
values that look the same differ, so an importer (or a seller, a broker) could shed its
history with ``IMP001`` + U+200B, and a log, CSV or report line could be broken or
displayed reversed. Refused in every text value (:data:`FORBIDDEN_CHARACTERS`):

* C0 controls U+0000-U+001F (NUL, tab, newlines included), DEL U+007F, C1 controls
  U+0080-U+009F;
* bidirectional embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069, and the
  marks U+200E, U+200F and U+061C: marks have a use in running Arabic or Hebrew prose,
  which no portsift field holds, and in a key they are as invisible as the rest;
* line and paragraph separators U+2028, U+2029;
* invisible format characters: soft hyphen U+00AD, zero-width space, non-joiner and
  joiner U+200B-U+200D, word joiner and invisible operators U+2060-U+2064, the
  byte-order mark / zero-width no-break space U+FEFF;
* lone surrogates U+D800-U+DFFF (JSON can spell them, UTF-8 cannot store them).

Letters of every script, spaces (ordinary and no-break) and punctuation are accepted;
look-alike letters of other scripts are not this module's business.

**Numbers.** Every numeric field has a largest plausible value, ``[input_bounds]`` in the
settings (:func:`default_bounds`); above it a value is refused like a negative one.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from portsift.settings import load_settings

#: The refused characters, as the body of a regular-expression character class.
FORBIDDEN_CHARACTERS = (
    "\x00-\x1f\x7f-\x9f"  # C0 controls, DEL, C1 controls
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; left-to-right and right-to-left marks
    "\u2028-\u202e"  # line and paragraph separators; bidirectional embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidirectional isolates
    "\ufeff"  # byte-order mark (zero-width no-break space)
)
_FORBIDDEN = re.compile(f"[{FORBIDDEN_CHARACTERS}\ud800-\udfff]")
#: Arrow's regular expressions (RE2) work on valid UTF-8, which holds no surrogates.
_FORBIDDEN_RE2 = f"[{FORBIDDEN_CHARACTERS}]"

#: UTF-8 bytes with which every refused character starts: C0 and DEL are single bytes,
#: C1, U+00AD start with C2, U+061C with D8, U+200B-U+2069 with E2, U+FEFF with EF. A
#: column none of whose bytes is one of these is clean without a regular expression.
_LEAD_BYTES = np.zeros(256, dtype=bool)
_LEAD_BYTES[0x00:0x20] = True
_LEAD_BYTES[[0x7F, 0xC2, 0xD8, 0xE2, 0xEF]] = True

#: Names of the controls, which Unicode leaves unnamed.
_CONTROL_NAMES = {
    "\x00": "NUL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x7f": "DELETE",
}


def first_forbidden(value: str) -> str | None:
    """The first refused character of ``value``, or ``None`` when it has none."""
    found = _FORBIDDEN.search(value)
    return found.group() if found else None


def describe(char: str) -> str:
    """A refused character as a message shows it: ``U+202E RIGHT-TO-LEFT OVERRIDE``.

    The character itself is never echoed: printed, it would do what it was refused for.
    """
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    if not name:
        name = "surrogate" if "\ud800" <= char <= "\udfff" else "control character"
    return f"U+{ord(char):04X} {name}"


def forbidden_reason(char: str) -> str:
    """Completes "N rows with ...": the kind of character and the first one found."""
    return f"a control, bidirectional or invisible character ({describe(char)})"


def forbidden_mask(text: pd.Series) -> tuple[np.ndarray, str | None]:
    """The values of a text column holding a refused character, and the first such character.

    Vectorised: a column whose UTF-8 bytes hold no byte a refused character starts with
    (the usual case) is passed after one look at its data buffer; only a column with such
    a byte is searched value by value.

    Args:
        text: A text column (missing values count as clean).

    Returns:
        The boolean mask over the rows and the first refused character (``None`` if none).
    """
    array = _arrow(text)
    if array is None:
        bad = text.map(lambda v: isinstance(v, str) and _FORBIDDEN.search(v) is not None)
        mask = bad.to_numpy(dtype=bool)
    elif not _may_hold_forbidden(array):
        return np.zeros(len(text), dtype=bool), None
    else:
        found = pc.match_substring_regex(array, _FORBIDDEN_RE2)
        mask = pc.fill_null(found, False).to_numpy(zero_copy_only=False).astype(bool)
    if not mask.any():
        return mask, None
    first = str(text.iloc[int(np.flatnonzero(mask)[0])])
    return mask, first_forbidden(first)


def _arrow(text: pd.Series) -> pa.ChunkedArray | None:
    try:
        array = pa.array(text, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, UnicodeError):
        return None  # not all strings (or a lone surrogate): searched value by value
    if isinstance(array, pa.Array):
        array = pa.chunked_array([array])
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        return None
    return array


def _may_hold_forbidden(array: pa.ChunkedArray) -> bool:
    for chunk in array.chunks:
        if len(chunk) == 0:
            continue
        offsets = np.frombuffer(
            chunk.buffers()[1],
            dtype="int64" if pa.types.is_large_string(chunk.type) else "int32",
        )[chunk.offset : chunk.offset + len(chunk) + 1]
        data = chunk.buffers()[2]
        if data is None:
            continue
        raw = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if _LEAD_BYTES[raw].any():
            return True
    return False


# ------------------------------------------------------------------------- bounds


def default_bounds() -> Mapping[str, float]:
    """``[input_bounds]`` of the settings in force (``PORTSIFT_CONFIG`` or the packaged file).

    Read once per settings file: the API's validation asks for every request it cannot
    read straight into arrays.

    Returns:
        Field name -> largest accepted value.
    """
    return _bounds_of(os.environ.get("PORTSIFT_CONFIG") or None)


@functools.cache
def _bounds_of(config: str | None) -> Mapping[str, float]:
    return load_settings(config).input_bounds.as_mapping()


def bound_reason(maximum: float) -> str:
    """Completes "N rows with ...": a value above its field's bound."""
    return f"a value above the plausible maximum {maximum:g} ([input_bounds] in the settings)"


def columns_plausible(
    columns: Mapping[str, np.ndarray], bounds: Mapping[str, float] | None = None
) -> bool:
    """Whether declarations read into arrays keep every bound and hold no refused character.

    For the API's fast path (:func:`portsift.features.online.columns_from_records`), which
    checks types and signs but neither of these; columns that fail go through the loader,
    which names the field.

    Args:
        columns: Field name -> values (text as object arrays, numbers as float64).
        bounds: Field name -> largest value (default :func:`default_bounds`).

    Returns:
        ``True`` when nothing is refused.
    """
    bounds = default_bounds() if bounds is None else bounds
    texts: list[str] = []
    for name, values in columns.items():
        maximum = bounds.get(name)
        if maximum is not None and values.dtype.kind == "f":
            # A request holds a handful of rows: Python beats numpy's per-call cost there.
            if len(values) > _VECTORISE_FROM:
                if bool((values > maximum).any()):
                    return False
            elif any(value > maximum for value in values.tolist()):
                return False
        elif values.dtype.kind == "O":
            texts.extend(value for value in values.tolist() if isinstance(value, str))
    # One search over all the text (joined by a space, which is allowed).
    return _FORBIDDEN.search(" ".join(texts)) is None


#: Rows from which a bound is checked with numpy rather than in Python.
_VECTORISE_FROM = 32
