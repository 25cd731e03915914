"""Exact path-dependent TreeSHAP for a LightGBM booster, from precomputed tables.

The values are LightGBM's own ``predict(pred_contrib=True)`` (the same cover-weighted,
path-dependent algorithm), computed the way of Fast TreeSHAP v2 (Yang 2021): once per
booster, tables; per batch, decisions, pattern indices and gathers.

Why it works: take one leaf with value ``v`` and the unique features ``U`` (``d`` of
them) split on along its root-to-leaf path. For a feature ``j`` in ``U`` let ``z_j`` be
the product of the cover ratios (child count / parent count) of the path's splits on
``j``, and ``o_j(x)`` be 1 when the row satisfies every one of the path's conditions on
``j``, else 0. The path-dependent expectation of the leaf's output given the features in
``S`` is ``v * prod_{j in S} o_j * prod_{j in U minus S} z_j``, so the leaf is a game on
``U`` alone and its Shapley value for ``i`` in ``U`` is::

    v * (o_i - z_i) * sum_{S subset of U minus i} w(|S|, d) prod_{j in S} o_j
                                                  prod_{j in U minus S minus i} z_j

with ``w(s, d) = s! (d - s - 1)! / d!``. The row enters only through the ``d`` bits
``o_j``, so for each leaf a table over the ``2^d`` bit patterns holds every feature's
value. The inner sum is the polynomial ``prod_{j != i} (z_j + o_j t)`` with its
coefficient of ``t^s`` weighted by ``w(s, d)``. Summing over leaves (and trees) gives the
SHAP values; the base value is the trees' cover-weighted mean leaf value.

At prediction every internal node's decision is evaluated for all rows at once, with
LightGBM's rules (numerical ``<=`` with ``default_left`` and ``missing_type`` None / Zero
/ NaN; categorical sets, NaN and negative categories going right; values within
``1e-35`` of 0 read as 0), each node's pattern is its parent's OR the bit of the edge
it came down (one vectorised step per depth), and the table entries are gathered and
summed into the feature columns (a sparse product). Sibling leaves share one table. There
is no Python loop over trees, leaves or rows; buffers are reused per thread.

The tables grow as ``2^d`` per leaf. A booster with more than ``max_unique_features``
unique features on some path, or whose tables would exceed ``max_table_entries`` entries,
multiclass or linear-tree models, and rf-mode (averaged) models are not compiled:
:meth:`TreeShap.contributions` then falls back to ``pred_contrib``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from math import factorial
from typing import Any

import lightgbm as lgb
import numpy as np
from scipy import sparse

K_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold: dense input this close to 0 is 0
MAX_UNIQUE_FEATURES = 10
MAX_TABLE_ENTRIES = 1 << 23  # 64 MiB of float64
ROW_CHUNK = 128  # rows per pass: keeps the (rows x slots) temporaries in cache
_LOCAL = threading.local()  # per thread: the reused buffers of _workspace

# Numerical node kinds, each a way of reading NaN (and, for Zero, 0) before "<=".
_NAN_LEFT, _NAN_RIGHT, _NONE, _ZERO_LEFT, _ZERO_RIGHT = range(5)


class _LinearTreeError(Exception):
    """A linear tree, which the tables do not cover."""


@dataclass(frozen=True)
class _Leaf:
    """One leaf's path: value, unique features with their cover products and conditions."""

    value: float
    features: list[int]  # unique features, in order of first split on the path
    zero_fraction: list[float]
    path: list[tuple[int, bool, int]]  # (internal node, went left, position in features)


@dataclass(frozen=True)
class _Level:
    """The nodes of one depth (a slice of the depth order) and their parents' edges."""

    start: int
    stop: int
    parent: np.ndarray  # the parent's position in the depth order


@dataclass(frozen=True)
class _Tables:
    """Everything :meth:`TreeShap.contributions` needs, as flat arrays."""

    n_features: int
    base_value: float
    num_feature: np.ndarray  # per numerical column of the extended matrix, its feature
    num_fill: np.ndarray  # (columns, 1): what NaN (and, for missing type Zero, 0) becomes
    num_zero: np.ndarray | None  # (columns, 1) bool: missing type Zero; None if none is
    cat_features: np.ndarray  # features of categorical splits
    cat_max: np.ndarray  # per categorical feature, the largest category in any split
    cat_max_col: np.ndarray  # (features, 1): cat_max + 1, the index "above every split"
    cat_node_col: np.ndarray  # per categorical node, its column in cat_features
    cat_node_offset: np.ndarray  # per categorical node, the start of its lookup table
    cat_lut: np.ndarray  # 0.0 where the category goes left, 1.0 where it goes right
    node_col: np.ndarray  # per internal node, its column of the extended matrix
    node_threshold: np.ndarray
    n_nodes: int  # internal nodes and leaves, in order of depth
    levels: list[_Level]  # depth 1, 2, ...: the nodes whose patterns follow their parents'
    edge_split: np.ndarray  # per node below the roots (depth order), its parent's split
    edge_left: np.ndarray  # (nodes, 1) bool: the node is its parent's left child
    edge_bit: np.ndarray  # (nodes, 1) intp: the bit the node fails going the other way
    slot_node: np.ndarray  # per (leaf, feature) slot, sorted by feature: the leaf's node
    slot_base: np.ndarray  # per slot, the start of its pattern table
    slot_features: sparse.csr_matrix  # features present x slots: 1 where slot is feature
    slot_feature: np.ndarray  # per slot, its feature's position in features_present
    features_present: np.ndarray
    table: np.ndarray


class TreeShap:
    """Path-dependent TreeSHAP of a LightGBM booster, equal to ``pred_contrib``.

    Args:
        booster: A trained booster (binary or regression, one tree per iteration).
        max_unique_features: Largest number of unique features on a path to compile.
        max_table_entries: Largest total table size (float64 entries) to compile.

    The constructor compiles the tables (tens of milliseconds for hundreds of trees);
    beyond either cap, or for a booster this module does not cover (see the module
    docstring), ``compiled`` is False and :meth:`contributions` calls ``pred_contrib``.
    """

    def __init__(
        self,
        booster: lgb.Booster,
        max_unique_features: int = MAX_UNIQUE_FEATURES,
        max_table_entries: int = MAX_TABLE_ENTRIES,
    ) -> None:
        self.booster = booster
        self.num_iteration = int(booster.best_iteration or 0)
        model = booster.dump_model(num_iteration=self.num_iteration)
        self._tables = _compile(model, max_unique_features, max_table_entries)

    @property
    def compiled(self) -> bool:
        """Whether the tables exist (False: every call goes to ``pred_contrib``)."""
        return self._tables is not None

    def contributions(self, x: np.ndarray, num_threads: int = 0) -> np.ndarray:
        """Return SHAP values in ``pred_contrib``'s layout: rows x (features + 1).

        Args:
            x: Feature matrix (rows x the booster's features), float64 with NaN.
            num_threads: LightGBM threads of the fallback (the tables use this thread).

        Returns:
            The contributions; the last column is the base value, and each row sums to
            the raw score.
        """
        t = self._tables
        if t is None:
            return self.booster.predict(
                x, pred_contrib=True, num_threads=num_threads, num_iteration=self.num_iteration
            )
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != t.n_features:
            raise ValueError(f"expected rows x {t.n_features} features, got shape {x.shape}")
        out = np.zeros((len(x), t.n_features + 1))
        out[:, -1] = t.base_value
        if not len(t.slot_node):  # single-leaf trees only
            return out
        if len(x) <= ROW_CHUNK:
            out[:, t.features_present] = _shap_chunk(t, x)
            return out
        for start in range(0, len(x), ROW_CHUNK):
            rows = slice(start, start + ROW_CHUNK)
            out[rows, t.features_present] = _shap_chunk(t, x[rows])
        return out


def _shap_chunk(t: _Tables, x: np.ndarray) -> np.ndarray:
    """SHAP values of ``x`` for the features present in the trees (rows x present)."""
    # Everything runs transposed (nodes x rows): gathers of nodes then copy whole rows.
    # Dense input within kZeroThreshold of 0 is dropped by LightGBM, i.e. read as 0.
    x = np.where(np.abs(x) <= K_ZERO_THRESHOLD, 0.0, x).T
    # A value that must go the default way becomes -inf (left) or +inf (right): the
    # thresholds are finite, so "<=" then sends it where LightGBM does; missing type
    # None reads NaN as 0, and Zero reads NaN as 0 and sends 0 the default way.
    read = np.take(x, t.num_feature, axis=0)
    missing = np.isnan(read)
    if t.num_zero is not None:
        missing |= t.num_zero & (read == 0.0)
    ws = _workspace(t, x.shape[1])
    wide = ws["wide"]
    np.copyto(wide[: len(read)], np.where(missing, t.num_fill, read))
    if len(t.cat_features):
        wide[len(read) :] = _categorical(t, x[t.cat_features])
    left = np.less_equal(
        np.take(wide, t.node_col, axis=0, out=ws["node_value"], mode="clip"),
        t.node_threshold,
        out=ws["left"],
    )
    # A node's fail pattern is its parent's plus the bit of the parent's feature when
    # the row goes the other way: the bits of every edge at once, then one OR a depth.
    went_left = np.take(left, t.edge_split, axis=0, out=ws["went_left"], mode="clip")
    # (went left != the edge is the left one) * bit: 3x faster than np.where here.
    bits = np.multiply(
        np.not_equal(went_left, t.edge_left, out=went_left), t.edge_bit, out=ws["bits"]
    )
    roots = t.levels[0].start
    pattern = ws["pattern"]
    pattern[:roots] = 0
    for level in t.levels:
        size = level.stop - level.start
        np.bitwise_or(
            np.take(pattern, level.parent, axis=0, out=ws["parent"][:size], mode="clip"),
            bits[level.start - roots : level.stop - roots],
            out=pattern[level.start : level.stop],
        )
    index = np.take(pattern, t.slot_node, axis=0, out=ws["index"], mode="clip")
    np.add(index, t.slot_base, out=index)
    values = np.take(t.table, index, out=ws["values"], mode="clip")
    if values.shape[1] == 1:  # one row: bincount costs less than scipy's call
        return np.bincount(t.slot_feature, values[:, 0], len(t.features_present))[None, :]
    # Summing slots into features as a sparse product: one pass, several times faster
    # than np.add.reduceat over the feature-sorted slots.
    return (t.slot_features @ values).T


def _workspace(t: _Tables, rows: int) -> dict[str, np.ndarray]:
    """This thread's buffers, shaped for ``rows`` (at most ``ROW_CHUNK``) rows.

    Why: fresh multi-megabyte temporaries come from mmap once a process's malloc no longer
    adapts its mmap threshold (as in the serving process), and their page faults cost
    about four times the arithmetic; reused buffers keep a batch of 100 near 2 ms. Each
    buffer is flat, sized for ``ROW_CHUNK`` rows, so every batch size reads a contiguous
    front part of it (about 25 MiB a thread for the demo model).
    """
    spaces = getattr(_LOCAL, "spaces", None)
    if spaces is None:
        spaces = _LOCAL.spaces = {}
    flat = spaces.get(id(t))
    if flat is None:
        spaces.clear()  # one model's buffers a thread: a replaced model's are dropped
        widest = max(level.stop - level.start for level in t.levels)
        shapes = {
            "wide": (len(t.num_feature) + len(t.cat_node_col), np.float64),
            "node_value": (len(t.node_col), np.float64),
            "left": (len(t.node_col), np.bool_),
            "went_left": (len(t.edge_split), np.bool_),
            "bits": (len(t.edge_split), np.intp),
            "pattern": (t.n_nodes, np.intp),
            "parent": (widest, np.intp),
            "index": (len(t.slot_node), np.intp),
            "values": (len(t.slot_node), np.float64),
        }
        flat = {name: np.empty(n * ROW_CHUNK, dtype=dtype) for name, (n, dtype) in shapes.items()}
        flat["_tables"] = t  # type: ignore[assignment]  # keeps id(t) from being reused
        spaces[id(t)] = flat
    views = flat.get(rows)  # type: ignore[call-overload]
    if views is None:  # the views of each batch size, made once (a reshape costs ~1 us)
        views = {
            name: buffer[: (len(buffer) // ROW_CHUNK) * rows].reshape(
                len(buffer) // ROW_CHUNK, rows
            )
            for name, buffer in flat.items()
            if isinstance(name, str) and name != "_tables"
        }
        flat[rows] = views  # type: ignore[index]
    return views


def _categorical(t: _Tables, x: np.ndarray) -> np.ndarray:
    """0.0 where a categorical node sends the row left, 1.0 where right (nodes x rows)."""
    # LightGBM casts to int (truncation); NaN and negatives go right, as do categories
    # above every split's largest (index cat_max + 1 of each lookup table: right).
    # np.fmax turns NaN into -1 (it ignores NaN); the offsets include the +1 of -1.
    category = np.minimum(np.fmax(np.trunc(x), -1.0), t.cat_max_col).astype(np.intp)
    return np.take(t.cat_lut, np.take(category, t.cat_node_col, axis=0) + t.cat_node_offset)


# -- compilation -------------------------------------------------------------------------


def _compile(
    model: dict[str, Any], max_unique_features: int, max_table_entries: int
) -> _Tables | None:
    """Build the tables of a dumped model, or None when it is beyond what they cover."""
    if model.get("num_tree_per_iteration", 1) != 1 or model.get("average_output"):
        return None
    n_features = int(model["max_feature_idx"]) + 1
    nodes: list[dict[str, Any]] = []  # every internal node, all trees, in order
    leaves: list[_Leaf] = []
    base_value = 0.0
    for tree in model["tree_info"]:
        root = tree["tree_structure"]
        if "split_feature" not in root:  # a single leaf: its value is all base value
            base_value += float(root["leaf_value"])
            continue
        try:
            base_value += _walk(root, nodes, leaves)
        except _LinearTreeError:
            return None
    if any(len(leaf.features) > max_unique_features for leaf in leaves):
        return None
    if sum(len(leaf.features) << len(leaf.features) for leaf in leaves) > max_table_entries:
        return None
    if not leaves:
        return _empty_tables(n_features, base_value)
    decisions = _decisions(nodes)
    leaves, tables = _merge_siblings(leaves, _leaf_phis(leaves))
    n_nodes, levels, edges, leaf_rank = _levels(len(nodes), leaves)
    slots = _slot_tables(tables)
    slots["slot_node"] = leaf_rank[slots.pop("slot_leaf")]
    return _Tables(
        n_features=n_features,
        base_value=base_value,
        n_nodes=n_nodes,
        levels=levels,
        **edges,
        **decisions,
        **slots,
    )


def _walk(root: dict[str, Any], nodes: list[dict[str, Any]], leaves: list[_Leaf]) -> float:
    """Collect a tree's internal nodes and leaf paths; return its expected value."""
    total = float(root["internal_count"])
    expected = 0.0
    # (node, path so far, unique features, their zero fractions) - depth first, no recursion
    stack: list[tuple[dict[str, Any], list[tuple[int, bool, int]], list[int], list[float]]]
    stack = [(root, [], [], [])]
    while stack:
        node, path, feats, zeros = stack.pop()
        if "split_feature" not in node:
            if "leaf_coeff" in node:  # linear trees: leaves are not constants
                raise _LinearTreeError
            expected += float(node["leaf_count"]) / total * float(node["leaf_value"])
            leaves.append(_Leaf(float(node["leaf_value"]), feats, zeros, path))
            continue
        index = len(nodes)
        nodes.append(node)
        feature = int(node["split_feature"])
        parent_count = float(node["internal_count"])
        for child, went_left in ((node["left_child"], True), (node["right_child"], False)):
            count = float(child["internal_count" if "split_feature" in child else "leaf_count"])
            ratio = count / parent_count
            child_feats, child_zeros = list(feats), list(zeros)
            if feature in child_feats:  # the same feature again: one player, merged
                pos = child_feats.index(feature)
                child_zeros[pos] *= ratio
            else:
                pos = len(child_feats)
                child_feats.append(feature)
                child_zeros.append(ratio)
            stack.append((child, [*path, (index, went_left, pos)], child_feats, child_zeros))
    return expected


def _decisions(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per internal node, the column of the extended matrix it reads and its threshold."""
    kind_features: list[list[int]] = [[] for _ in range(5)]
    cat_features: list[int] = []
    keys: list[tuple[int, int]] = []  # (kind or -1 for categorical, feature)
    cat_sets: list[list[int]] = []
    for node in nodes:
        feature = int(node["split_feature"])
        if node["decision_type"] == "==":
            cats = [int(c) for c in str(node["threshold"]).split("||")]
            cat_sets.append(cats)
            if feature not in cat_features:
                cat_features.append(feature)
            keys.append((-1, feature))
            continue
        missing, default_left = node["missing_type"], bool(node["default_left"])
        if missing == "NaN":
            kind = _NAN_LEFT if default_left else _NAN_RIGHT
        elif missing == "Zero":
            kind = _ZERO_LEFT if default_left else _ZERO_RIGHT
        else:
            kind = _NONE
        if feature not in kind_features[kind]:
            kind_features[kind].append(feature)
        keys.append((kind, feature))
    # Columns of the extended matrix: each kind's features in turn, then one per
    # categorical node (its lookup result).
    starts = np.cumsum([0] + [len(f) for f in kind_features])
    cat_max = np.zeros(len(cat_features), dtype=np.intp)
    for (_, feature), cats in zip([k for k in keys if k[0] == -1], cat_sets, strict=True):
        col = cat_features.index(feature)
        cat_max[col] = max(cat_max[col], max(cats))
    node_col, threshold = [], []
    cat_node_col, cat_node_offset, luts = [], [], []
    offset, cat_index = 0, 0
    for node, (kind, feature) in zip(nodes, keys, strict=True):
        if kind >= 0:
            node_col.append(starts[kind] + kind_features[kind].index(feature))
            threshold.append(float(node["threshold"]))
            continue
        col = cat_features.index(feature)
        lut = np.ones(int(cat_max[col]) + 3)  # [negative/NaN, 0..max, above max]
        lut[np.asarray(cat_sets[cat_index]) + 1] = 0.0
        cat_node_col.append(col)
        cat_node_offset.append(offset)
        luts.append(lut)
        offset += len(lut)
        node_col.append(starts[-1] + cat_index)
        threshold.append(0.5)
        cat_index += 1
    fills = [-np.inf, np.inf, 0.0, -np.inf, np.inf]  # by kind, in the order of _NAN_LEFT..
    kind_of_column = np.repeat(np.arange(5), [len(f) for f in kind_features])
    zero = np.isin(kind_of_column, [_ZERO_LEFT, _ZERO_RIGHT])[:, None]
    return {
        "num_feature": np.asarray([f for fs in kind_features for f in fs], dtype=np.intp),
        "num_fill": np.asarray(fills)[kind_of_column][:, None],
        "num_zero": zero if zero.any() else None,
        "cat_features": np.asarray(cat_features, dtype=np.intp),
        "cat_max": cat_max,
        "cat_node_col": np.asarray(cat_node_col, dtype=np.intp),
        "cat_node_offset": np.asarray(cat_node_offset, dtype=np.intp)[:, None] + 1,
        "cat_max_col": (cat_max + 1.0)[:, None],
        "cat_lut": np.concatenate(luts) if luts else np.zeros(0),
        "node_col": np.asarray(node_col, dtype=np.intp),
        "node_threshold": np.asarray(threshold, dtype=np.float64)[:, None],
    }


def _levels(
    n_internal: int, leaves: list[_Leaf]
) -> tuple[int, list[_Level], dict[str, np.ndarray], np.ndarray]:
    """Number every node by depth; return the levels, the edges, each leaf's position.

    Nodes ``0 .. n_internal - 1`` are the internal nodes, ``n_internal + l`` leaf ``l``.
    Each edge is read off the leaf paths: a path entry's node is the parent of the next
    entry's node (or of the leaf), and the entry's position is the bit of the parent's
    feature, the same for every leaf below (features are numbered by first split).
    """
    n_nodes = n_internal + len(leaves)
    depth = np.zeros(n_nodes, dtype=np.intp)
    parent = np.full(n_nodes, -1, dtype=np.intp)
    went_left = np.zeros(n_nodes, dtype=bool)
    bit = np.zeros(n_nodes, dtype=np.uint16)
    for number, leaf in enumerate(leaves):
        children = [step[0] for step in leaf.path[1:]] + [n_internal + number]
        for k, ((node, left, pos), child) in enumerate(zip(leaf.path, children, strict=True)):
            depth[child], parent[child], went_left[child] = k + 1, node, left
            bit[child] = 1 << pos
    order = np.argsort(depth, kind="stable")
    rank = np.empty(n_nodes, dtype=np.intp)
    rank[order] = np.arange(n_nodes)
    bounds = np.searchsorted(depth[order], np.arange(depth.max() + 2))
    levels = [
        _Level(int(bounds[d]), int(bounds[d + 1]), rank[parent[order[bounds[d] : bounds[d + 1]]]])
        for d in range(1, int(depth.max()) + 1)
    ]
    below = order[bounds[1] :]
    edges = {
        "edge_split": parent[below],
        "edge_left": went_left[below][:, None],
        "edge_bit": bit[below].astype(np.intp)[:, None],
    }
    return n_nodes, levels, edges, rank[n_internal:]


def _leaf_phis(leaves: list[_Leaf]) -> list[np.ndarray]:
    """Each leaf's table (its features x its 2^d fail patterns), grouped by ``d``."""
    depth = np.array([len(leaf.features) for leaf in leaves])
    phis: list[np.ndarray] = [np.empty(0)] * len(leaves)
    for d in np.unique(depth):
        group = np.flatnonzero(depth == d)
        values = np.array([leaves[i].value for i in group])
        zeros = np.array([leaves[i].zero_fraction for i in group])
        for i, phi in zip(group, _leaf_tables(values, zeros), strict=True):
            phis[i] = phi
    return phis


def _merge_siblings(
    leaves: list[_Leaf], phis: list[np.ndarray]
) -> tuple[list[_Leaf], list[tuple[int, list[int], np.ndarray]]]:
    """Fold each pair of sibling leaves into one table read through the left leaf.

    Two leaves under one split share every condition but that split's, so one table over
    the left leaf's pattern answers for both, and the right leaf's slots (about a third
    of all slots in a full tree) are never gathered. If the split's feature is new on
    the path, the left leaf's pattern already holds the split's bit ``b`` and the right
    leaf's pattern is the same with ``b`` flipped. If the feature was split on above
    (bit ``p``), the left leaf's pattern gets a new bit ``d`` for this split alone: the
    left leaf reads ``r | went_right << p``, the right one ``r | went_left << p``.

    Returns:
        The leaves (the left one of a case-two pair with its last path entry's bit
        moved to ``d``), and per table: the leaf it is read through, its features, and
        the table (features x patterns).
    """
    by_parent: dict[int, list[int]] = {}
    for number, leaf in enumerate(leaves):
        by_parent.setdefault(leaf.path[-1][0], []).append(number)
    leaves = list(leaves)
    tables: list[tuple[int, list[int], np.ndarray]] = []
    for members in by_parent.values():
        if len(members) == 1:
            tables.append((members[0], leaves[members[0]].features, phis[members[0]]))
            continue
        left, right = sorted(members, key=lambda i: not leaves[i].path[-1][1])
        leaf = leaves[left]
        d = len(leaf.features)
        pos = leaf.path[-1][2]
        if all(step[2] != pos for step in leaf.path[:-1]):
            merged = phis[left] + phis[right][:, np.arange(1 << d) ^ (1 << pos)]
        else:
            # Bit d of the merged pattern is this split's went-right; bit p of the rest
            # is the failures of the splits above on the same feature.
            patterns = np.arange(2 << d)
            rest, went_right = patterns & ((1 << d) - 1), patterns >> d
            first = rest | (went_right << pos)
            second = rest | ((1 - went_right) << pos)
            merged = phis[left][:, first] + phis[right][:, second]
            node, went_left, _ = leaf.path[-1]
            leaves[left] = _Leaf(
                leaf.value,
                leaf.features,
                leaf.zero_fraction,
                [*leaf.path[:-1], (node, went_left, d)],
            )
        tables.append((left, leaf.features, merged))
    return leaves, tables


def _slot_tables(tables: list[tuple[int, list[int], np.ndarray]]) -> dict[str, Any]:
    """Lay the tables out flat, one run of patterns per (table, feature) slot.

    Slots are sorted by feature, and ``slot_features`` sums them into feature columns.
    """
    slot_leaf = np.concatenate([np.full(len(f), leaf) for leaf, f, _ in tables])
    slot_feature = np.concatenate([f for _, f, _ in tables]).astype(np.intp)
    slot_size = np.concatenate([np.full(len(f), t.shape[1]) for _, f, t in tables])
    slot_base = np.concatenate([[0], np.cumsum(slot_size)[:-1]])
    table = np.concatenate([t.ravel() for _, _, t in tables])
    order = np.argsort(slot_feature, kind="stable")
    features_present, feature_of_slot = np.unique(slot_feature[order], return_inverse=True)
    slot_features = sparse.csr_matrix(
        (np.ones(len(order)), (feature_of_slot, np.arange(len(order)))),
        shape=(len(features_present), len(order)),
    )
    return {
        "slot_leaf": slot_leaf[order].astype(np.intp),
        "slot_base": slot_base[order].astype(np.intp)[:, None],
        "slot_features": slot_features,
        "slot_feature": feature_of_slot.astype(np.intp),
        "features_present": features_present.astype(np.intp),
        "table": table,
    }


def _leaf_tables(values: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """Shapley values of leaves with ``d`` path features, for every fail pattern.

    Args:
        values: Leaf values (leaves).
        zeros: Cover products ``z_j`` (leaves x d).

    Returns:
        leaves x d x 2^d: entry ``[l, i, p]`` is feature ``i``'s value when the row fails
        the conditions of the features whose bits are set in ``p``.
    """
    n, d = zeros.shape
    patterns = np.arange(1 << d)
    ones = ((patterns[:, None] >> np.arange(d)[None, :]) & 1) ^ 1  # o_j: patterns x d
    weight = np.array([factorial(s) * factorial(d - s - 1) / factorial(d) for s in range(d)])
    out = np.empty((n, d, 1 << d))
    for i in range(d):
        # Coefficients of prod_{j != i} (z_j + o_j t): leaves x patterns x degree.
        coef = np.zeros((n, 1 << d, d))
        coef[:, :, 0] = 1.0
        for j in range(d):
            if j == i:
                continue
            shifted = coef[:, :, :-1] * ones[None, :, j, None]
            coef *= zeros[:, j, None, None]
            coef[:, :, 1:] += shifted
        total = coef @ weight
        out[:, i, :] = values[:, None] * (ones[None, :, i] - zeros[:, i, None]) * total
    return out


def _empty_tables(n_features: int, base_value: float) -> _Tables:
    """Tables of a booster whose trees are all single leaves: only a base value."""
    empty = np.zeros(0, dtype=np.intp)
    return _Tables(
        n_features=n_features,
        base_value=base_value,
        num_feature=empty,
        num_fill=np.zeros((0, 1)),
        num_zero=None,
        cat_features=empty,
        cat_max=empty,
        cat_max_col=np.zeros((0, 1)),
        cat_node_col=empty,
        cat_node_offset=empty[:, None],
        cat_lut=np.zeros(0),
        node_col=empty,
        node_threshold=np.zeros((0, 1)),
        n_nodes=0,
        levels=[],
        edge_split=empty,
        edge_left=np.zeros((0, 1), dtype=bool),
        edge_bit=np.zeros((0, 1), dtype=np.intp),
        slot_node=empty,
        slot_base=empty,
        slot_features=sparse.csr_matrix((0, 0)),
        slot_feature=empty,
        features_present=empty,
        table=np.zeros(0),
    )
