"""Inspection selection: turn scored declarations into decisions under the rules.

The rules live in their own modules: :mod:`~portsift.models.budget` (how many, in which
order, seeded draws), :mod:`~portsift.models.credit` (rule sets by date, caps and floors,
the exact allocation), :mod:`~portsift.models.rule_set_batch` (rules, exploration and
allocation for the rows of one rule set, in that order), :mod:`~portsift.models.lanes`
(acceptance, lanes, deadlines), :mod:`~portsift.models.policy_notes` (the reasons),
:mod:`~portsift.models.realtime` (fitted thresholds and the online decision) and
:mod:`~portsift.models.selection_facts` (what a batch reports). This file is the
estimator that applies them in order.

:class:`SelectionPolicy` takes scored declarations (the feature frame with
``risk_score``, ``priority`` and ``raw_score``) and decides, per declaration, whether it
is inspected, in which lane, why, under which deadlines, and says so in Chinese and
English. Its configuration is the ``[selection]`` section of ``portsift/settings.toml``
(every rule there names its source).

**Batch** (:meth:`SelectionPolicy.decide`): exactly ``k = round(rate x N)`` are selected.

1. *Rules*: every declaration an officer rule matches is selected (``rule``); they count
   in ``k`` (if they alone exceed it, all of them are still selected and the batch facts
   say so).
2. *Exploration*: ``round(share x k)`` declarations are drawn at random (``random``) from
   those no rule selected, before the risk part, so that the sample is one of the whole
   population and its outcomes estimate the true violation rate (a draw among what the
   model passed over would only estimate the rate there). The draw is an
   equal-probability systematic sample over a seeded hash order within tiers: every
   eligible declaration has the same chance ``r / M``, the per-tier counts are within one
   of proportional, and the same seed gives the same draw whatever the row order.
3. *Credit tiers and risk*: the rest of the budget goes by priority, subject to the
   per-tier rate rules relative to the reference tier's rate ``rho`` (``below c``:
   ``n_t / N_t < c rho``; ``at_least f``: ``n_t / N_t >= f rho``), counted over every
   selection, rules and random draws included. The solution is exact and terminates:
   for every candidate count ``m`` of reference-tier selections the bounds of each tier
   follow (caps, floors), each tier takes the rows whose priority beats the reference
   tier's marginal row, clipped to its bounds; that total is non-decreasing in ``m``,
   so the largest ``m`` whose total fits in ``k`` is found over all ``m`` at once, and the
   few rows left over (or too many) are filled (trimmed) by priority within the bounds.
   Rows a floor adds below the marginal priority are ``tier_floor``.

**Real time** (:meth:`SelectionPolicy.fit_thresholds`, :meth:`decide_online`,
:meth:`decide_one`): the batch solution on recent scored declarations gives a priority
threshold per tier and a per-tier exploration probability such that the expected counts
on that data equal the batch counts; these are saved as JSON with the model
(:class:`ThresholdState`). Online, a declaration is selected if a rule matches, else if
its priority reaches its tier's threshold, else with the exploration probability (a
seeded hash of its id, so a replay decides the same). :meth:`summarise` reports the
realised rate against the target, so that drift is visible.

**Lanes** (``[selection.lanes]``): a selection goes to

* ``red_sampling`` if its goods are in the acceptance (statutory inspection) catalogue
  and carry no accepted lab report: the risk is one of quality and safety, which a lab
  test settles;
* ``red`` (physical inspection) if the declared value is at least ``red_min_value``, or
  a physical signal is present: perishable goods (quarantine), or a declared weight per
  unit off its reference by more than ``physical_weight_ratio`` either way (a quantity
  only opening the container can check);
* ``yellow`` (document review) otherwise: the risk is documentary (valuation,
  classification, origin papers) at a modest value.

* ``red_remote`` (remote video inspection, Haikou Customs 2024 measure 8) instead of a
  ``red`` the rule above chose, where ``[selection.remote_inspection]`` allows a video
  check (credit tier, goods class, not perishable, no weight signal): the selection is
  the same, only how it is inspected changes.

An officer rule sets its own lane. A catalogue good with an accepted report (采信: a
``pass`` from an accredited lab within the validity window of its HS prefix) is never
``red_sampling``: it gets ``red`` or ``yellow`` by the rule above (a ``red_sampling``
rule becomes ``red``) and the note says the report was accepted. Not selected = ``green``.

**Deadlines** (hours or days from when the goods are presented for inspection, NaN where
none applies): selected perishable goods are in the green channel (``priority_lane``):
``inspection_deadline_hours`` and ``release_deadline_hours`` (after a normal result);
``red_sampling`` carries ``sampling_deadline_days`` and, for the goods classes of
``[[selection.sampling.lab_test]]``, ``lab_test_deadline_days``; ``red_remote`` carries
``[selection.remote_inspection] inspection_hours`` as ``inspection_deadline_hours``.

**Release conditions** (``release_condition``, Haikou Customs 2024 measure 14,
:mod:`~portsift.models.release`): ``conditional_early_release`` or
``conditional_release`` where ``[selection.release]`` lets the goods leave before the
result, ``""`` elsewhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from portsift.features import disclosure as disclosure_features
from portsift.features import ruling as ruling_features
from portsift.models.budget import (
    apportion,
    budget_count,
)
from portsift.models.credit import (
    held_to,
    rule_set_index,
    tier_summary,
)
from portsift.models.disclosures import DISCLOSURE_REASON, disclosure_cover
from portsift.models.lanes import finish
from portsift.models.realtime import ThresholdState, decide_online_columns, fit_state
from portsift.models.release import RELEASE_COLUMN
from portsift.models.remote_inspection import REMOTE_LANE
from portsift.models.rule_set_batch import select_group
from portsift.models.rulings import RULING_DECISION_COLUMNS
from portsift.models.selection_facts import BatchFacts, PolicySummary
from portsift.models.table import (
    Table,
    date_column,
    select_first,
    starts_with,
    table_length,
    text_column,
)
from portsift.settings import (
    LATER_SELECTION_SECTIONS,
    SelectionSettings,
    load_settings,
    packaged_settings,
)

LANES = ("green", "yellow", "red", "red_sampling", REMOTE_LANE)
SELECTION_REASONS = ("risk", "random", "tier_floor", "rule", DISCLOSURE_REASON, "")

#: Columns :meth:`SelectionPolicy.decide` returns, in order.
DECISION_COLUMNS: tuple[str, ...] = (
    "selected",
    "lane",
    "selection_reason",
    "lab_accepted",
    "green_channel",
    "priority_lane",
    "inspection_deadline_hours",
    "release_deadline_hours",
    "sampling_deadline_days",
    "lab_test_deadline_days",
    "policy_note_en",
    "policy_note_zh",
    "policy_version",
    RELEASE_COLUMN,
)

#: Decision columns of measures 22 (voluntary disclosure) and 12 (advance rulings),
#: after :data:`DECISION_COLUMNS`: present only when their registers are given.
MEASURE_COLUMNS: tuple[str, ...] = ("disclosure_id", *RULING_DECISION_COLUMNS)

#: Columns of the scored frame the policy reads (besides ``priority`` and ``risk_score``).
POLICY_COLUMNS: tuple[str, ...] = (
    "declaration_id",
    "declared_at",
    "credit_tier",
    "hs_code",
    "origin_country",
    "importer_id",
    "declared_value",
    "acceptance_listed",
    "lab_report_present",
    "lab_accredited",
    "lab_result_pass",
    "lab_report_age_days",
    "lab_id",
    "issued_at",
    "perishable",
    "weight_per_unit_ratio",
    "trade_mode",
    *disclosure_features.CONTEXT_COLUMNS,
    *ruling_features.CONTEXT_COLUMNS,
)


def _digested_selection(settings: SelectionSettings) -> dict[str, Any]:
    """``[selection]`` as the policy version digests it.

    The sub-tables added after versions were first recorded
    (:data:`~portsift.settings.LATER_SELECTION_SECTIONS`: measures 22 and 12) count only
    where they differ from the packaged defaults, so that a policy's version is the one
    its decisions carried before those measures existed, and a run that changes them
    gets a version of its own. Measures 8 and 14 count whenever they are enabled.
    """
    dumped = settings.model_dump(mode="json")
    packaged = packaged_settings().selection.model_dump(mode="json")
    for name in LATER_SELECTION_SECTIONS:
        if dumped.get(name) == packaged.get(name):
            dumped.pop(name, None)
    # Measures 8 and 14 change the packaged decisions and count in the digest, unless
    # disabled: then the decisions are those of before the measures, and so the version.
    for name in ("remote_inspection", "release"):
        if not dumped[name]["enabled"]:
            dumped.pop(name)
    return dumped


def _as_frame(parts: Mapping[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """The decision columns as a frame (text columns in pandas' ``str`` dtype)."""
    out = pd.DataFrame(dict(parts), index=index)
    for column in _TEXT_DECISION_COLUMNS:
        if column in out:
            out[column] = out[column].astype("str")
    return out


_TEXT_DECISION_COLUMNS = (
    "lane",
    "selection_reason",
    "policy_note_en",
    "policy_note_zh",
    "policy_version",
    RELEASE_COLUMN,
    "disclosure_id",
    "ruling_ids",
    "ruling_kinds",
)


class SelectionPolicy:
    """Select declarations for inspection under the budget and the credit rules.

    Follows scikit-learn's conventions: ``__init__`` only stores the configuration;
    state learnt from data ends in ``_`` (``thresholds_`` from :meth:`fit_thresholds`,
    ``batch_`` facts of the last :meth:`decide`).

    Args:
        config: The ``[selection]`` settings; None = the packaged defaults (or
            ``PORTSIFT_CONFIG``).
        rate: Inspection rate, overriding ``config.default_rate``.
        exploration_share: Random share of the budget, overriding the configuration.
        random_state: Seed of the random draws, overriding the configuration.
    """

    def __init__(
        self,
        config: SelectionSettings | None = None,
        *,
        rate: float | None = None,
        exploration_share: float | None = None,
        random_state: int | None = None,
    ) -> None:
        self.config = config
        self.rate = rate
        self.exploration_share = exploration_share
        self.random_state = random_state

    # -- configuration ---------------------------------------------------------------

    @property
    def settings(self) -> SelectionSettings:
        """The configuration in force."""
        if self.config is not None:
            return self.config
        # Read once per policy: the packaged defaults do not change during a run.
        if getattr(self, "_defaults", None) is None:
            self._defaults = load_settings().selection
        return self._defaults

    @property
    def rate_(self) -> float:
        """The inspection rate in force."""
        rate = self.settings.default_rate if self.rate is None else self.rate
        if not 0 < rate <= 1:
            raise ValueError(f"inspection rate must be in (0, 1], got {rate}")
        return float(rate)

    @property
    def share_(self) -> float:
        """The exploration share in force."""
        share = self.exploration_share
        share = self.settings.exploration.share if share is None else share
        if not 0 <= share < 1:
            raise ValueError(f"exploration share must be in [0, 1), got {share}")
        return float(share)

    @property
    def seed_(self) -> int:
        """The seed in force."""
        seed = self.random_state
        return int(self.settings.exploration.random_state if seed is None else seed)

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments (scikit-learn convention)."""
        return {
            "config": self.config,
            "rate": self.rate,
            "exploration_share": self.exploration_share,
            "random_state": self.random_state,
        }

    def with_params(self, **changes: Any) -> SelectionPolicy:
        """A new, unfitted policy with some constructor arguments changed."""
        return SelectionPolicy(**{**self.get_params(), **changes})

    @property
    def version(self) -> str:
        """Digest of everything that shapes a decision (reported with each one)."""
        # Settings and parameters are fixed once constructed: the digest is taken once.
        cached = self.__dict__.get("_version")
        if cached is not None:
            return cached
        payload = {
            "selection": _digested_selection(self.settings),
            "rate": self.rate_,
            "share": self.share_,
            "seed": self.seed_,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8"))
        self.__dict__["_version"] = f"policy-{digest.hexdigest()[:12]}"
        return self.__dict__["_version"]

    def rule_sets_of(self, frame: Table) -> tuple[np.ndarray, np.ndarray]:
        """The credit rule set in force for each declaration, and the tier it is held to.

        Args:
            frame: Declarations with ``declared_at`` and ``credit_tier`` (a missing
                date takes the latest rule set; a missing tier is its reference tier).

        Returns:
            The index into ``[selection.credit] rule_sets`` per row, and the tier whose
            rule applies to the row under that set (its register tier, or the tier
            the set's ``fallback`` maps it to).
        """
        credit = self.settings.credit
        which = rule_set_index(date_column(frame, "declared_at"), credit)
        tiers = text_column(frame, "credit_tier")
        effective = np.empty(len(tiers), dtype=object)
        for index in np.unique(which):
            here = which == index
            effective[here] = held_to(tiers[here], credit.rule_sets[int(index)])
        return which, effective

    # -- the parts of a decision -----------------------------------------------------

    def rule_hits(self, frame: Table) -> tuple[np.ndarray, np.ndarray]:
        """Which officer rule (first in file order) each declaration matches.

        Args:
            frame: Declarations with ``hs_code``, ``origin_country``, ``importer_id``,
                ``credit_tier`` (missing columns never match).

        Returns:
            A boolean hit mask and the index of the rule hit (-1 where none).
        """
        n = table_length(frame)
        which = np.full(n, -1, dtype="int64")
        for index, rule in enumerate(self.settings.rules):
            match = np.ones(n, dtype=bool)
            for column, wanted in (
                ("origin_country", rule.origin_country),
                ("importer_id", rule.importer_id),
                ("credit_tier", rule.credit_tier),
            ):
                if wanted is not None:
                    match &= text_column(frame, column) == wanted
            if rule.hs_prefix is not None:
                match &= starts_with(text_column(frame, "hs_code"), rule.hs_prefix)
            which = np.where((which < 0) & match, index, which)
        return which >= 0, which

    def decide(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide a batch: ``round(rate x N)`` selections under every rule.

        Mandatory credit floors beat the budget: when the absolute floors (with the
        officer rules) need more selections, all of them are selected and
        ``self.batch_`` says by how many and why.

        Args:
            scored: The feature frame with ``priority`` (and ``risk_score``) per row; the
                lab, catalogue, ``credit_tier``, ``declared_at``, ``hs_code`` and
                ``declared_value`` columns of the pipeline.

        Returns:
            :data:`DECISION_COLUMNS`, aligned with ``scored.index``. The batch facts
            are in ``self.batch_``.
        """
        n = len(scored)
        prio = scored["priority"].to_numpy(dtype="float64", na_value=np.nan)
        rule_sets = self.rule_sets_of(scored)
        rule_hit, rule_index = self.rule_hits(scored)
        ids = (
            scored["declaration_id"].to_numpy(dtype=object)
            if "declaration_id" in scored
            else np.arange(n)
        )
        # Measure 22: declarations a voluntary disclosure covers are no detection target.
        # They leave the pool (no slot of the budget, no draw, no tier rate) and go to
        # document review; an officer rule still selects them as a rule.
        disclosed = disclosure_cover(self.settings.disclosure, scored).covered & ~rule_hit
        if disclosed.any():
            selected, random, floor, facts = self._batch_without(
                disclosed, prio, rule_sets, rule_hit, ids
            )
        else:
            selected, random, floor, facts = self._batch(prio, rule_sets, rule_hit, ids, self.rate_)
        reason = select_first(
            [rule_hit, disclosed, random, floor, selected],
            ["rule", DISCLOSURE_REASON, "random", "tier_floor", "risk"],
            "",
        )
        selected = selected | disclosed
        self.batch_ = facts
        decided = self.decision_columns(scored, selected, reason, rule_index, rule_sets)
        return _as_frame(decided, scored.index)

    def decision_columns(
        self,
        scored: Table,
        selected: np.ndarray,
        reason: np.ndarray,
        rule_index: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
    ) -> dict[str, np.ndarray]:
        """Lanes, deadlines and notes of decided rows, in batch and in real time.

        Args:
            scored: The scored rows.
            selected: Whether each row is selected.
            reason: Each row's selection reason.
            rule_index: The officer rule each row matched (-1: none).
            rule_sets: :meth:`rule_sets_of` of the rows.

        Returns:
            The columns of :data:`DECISION_COLUMNS` (:func:`portsift.models.lanes.finish`).
        """
        return finish(
            self.settings,
            self.version,
            self.seed_,
            self.share_,
            scored,
            selected,
            reason,
            rule_index,
            rule_sets,
        )

    def _batch_without(
        self,
        disclosed: np.ndarray,
        prio: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
        rule_hit: np.ndarray,
        ids: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchFacts]:
        """:meth:`_batch` of the rows no disclosure covers, with the whole batch's budget.

        The budget stays ``round(rate x N)`` of all ``N`` rows (at most the rows left):
        a covered declaration takes none of it, and none is lost to it.
        """
        n = len(prio)
        pool = ~disclosed
        budget = min(budget_count(n, self.rate_), int(pool.sum()))
        part = self._batch(
            prio[pool],
            (rule_sets[0][pool], rule_sets[1][pool]),
            rule_hit[pool],
            ids[pool],
            self.rate_,
            budget=budget,
        )
        masks = []
        for values in part[:3]:
            full = np.zeros(n, dtype=bool)
            full[pool] = values
            masks.append(full)
        facts = dataclasses.replace(part[3], rows=n, disclosed=int(disclosed.sum()))
        return masks[0], masks[1], masks[2], facts

    def _batch(
        self,
        prio: np.ndarray,
        rule_sets: tuple[np.ndarray, np.ndarray],
        rule_hit: np.ndarray,
        ids: np.ndarray,
        rate: float,
        budget: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, BatchFacts]:
        """The selection of a batch: selected, random and tier-floor masks and facts.

        Rows under different credit rule sets (a batch spanning a change of the law)
        are decided apart, each with its share of the budget (largest remainders), so
        that each set's rules hold on its own rows. ``budget`` overrides
        ``round(rate x rows)``.
        """
        n = len(prio)
        which, tiers = rule_sets
        budget = budget_count(n, rate) if budget is None else budget
        groups = np.unique(which)
        sizes = np.array([(which == g).sum() for g in groups])
        budgets = apportion(budget, sizes) if len(groups) > 1 else np.full(len(groups), budget)
        selected = np.zeros(n, dtype=bool)
        random = np.zeros(n, dtype=bool)
        floor = np.zeros(n, dtype=bool)
        parts: list[BatchFacts] = []
        for group, k in zip(groups, budgets, strict=True):
            rows = np.flatnonzero(which == group) if len(groups) > 1 else slice(None)
            rule_set = self.settings.credit.rule_sets[int(group)]
            part = select_group(
                prio[rows],
                tiers[rows],
                rule_hit[rows],
                ids[rows],
                int(k),
                rule_set,
                share=self.share_,
                seed=self.seed_,
            )
            selected[rows], random[rows], floor[rows] = part[:3]
            parts.append(part[3])
        facts = BatchFacts(
            rows=n,
            budget=budget,
            selected=int(selected.sum()),
            rule_hits=int(rule_hit.sum()),
            random=int(random.sum()),
            exploration_moved=sum(p.exploration_moved for p in parts),
            constraints_met=all(p.constraints_met for p in parts),
            reference_count=sum(p.reference_count for p in parts),
            floor_excess=sum(p.floor_excess for p in parts),
            floor_needs=tuple(need for p in parts for need in p.floor_needs),
            exploration_dropped=sum(p.exploration_dropped for p in parts),
            rule_sets={k: v for p in parts for k, v in p.rule_sets.items()},
        )
        return selected, random, floor, facts

    # -- real time -------------------------------------------------------------------

    def fit_thresholds(
        self,
        recent_priority: np.ndarray | pd.Series,
        rate: float | None = None,
        *,
        credit_tier: np.ndarray | pd.Series | None = None,
        rule_hit: np.ndarray | None = None,
        declared_at: pd.Series | None = None,
    ) -> ThresholdState:
        """Fit the real-time thresholds (:func:`portsift.models.realtime.fit_state`).

        Args:
            recent_priority: Priorities of the recent declarations.
            rate: Target rate (default: the policy's rate).
            credit_tier: Their tiers (None = one tier, no credit rules).
            rule_hit: Which of them officer rules select (None = none).
            declared_at: Their dates, recorded with the state.

        Returns:
            The state, also kept as ``self.thresholds_``.
        """
        state = fit_state(
            self,
            recent_priority,
            rate,
            credit_tier=credit_tier,
            rule_hit=rule_hit,
            declared_at=declared_at,
        )
        self.thresholds_ = state
        return state

    def decide_online(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide declarations one by one against the fitted thresholds (vectorised).

        Each row is decided on its own (no batch budget): rule, else priority at or
        above its tier's threshold, else a seeded draw on its id with the tier's
        exploration probability. A tier the state has not seen uses the reference
        tier's values.

        Args:
            scored: Scored declarations as for :meth:`decide`, with ``declaration_id``.

        Returns:
            :data:`DECISION_COLUMNS`, aligned with ``scored.index``.

        Raises:
            RuntimeError: If :meth:`fit_thresholds` has not been called (or
                ``thresholds_`` set from a saved state).
        """
        return _as_frame(self.decide_online_columns(scored), scored.index)

    def decide_online_columns(self, scored: Table) -> dict[str, np.ndarray]:
        """:meth:`decide_online` on columns of numpy arrays, without building a frame.

        The API's per-request path: the same decisions as :meth:`decide_online`, as
        one array per decision column.

        Args:
            scored: The columns :meth:`decide_online` reads (a frame or a mapping).

        Returns:
            :data:`DECISION_COLUMNS` as arrays.

        Raises:
            RuntimeError: If no thresholds are fitted.
        """
        return decide_online_columns(self, scored)

    def decide_one(self, row: Mapping[str, Any] | pd.Series) -> dict[str, Any]:
        """Decide one scored declaration in real time (see :meth:`decide_online`).

        Args:
            row: One scored declaration (feature values, ``priority``, ids).

        Returns:
            Its decision columns as a dict.
        """
        frame = pd.DataFrame([dict(row)])
        return self.decide_online(frame).iloc[0].to_dict()

    # -- reporting -------------------------------------------------------------------

    def summarise(
        self,
        decisions: pd.DataFrame,
        credit_tier: np.ndarray | pd.Series,
        declared_at: np.ndarray | pd.Series | None = None,
    ) -> PolicySummary:
        """Realised rates of decisions per credit rule set and tier against its rules.

        Args:
            decisions: Output of :meth:`decide` or :meth:`decide_online`.
            credit_tier: The register tier of each decision.
            declared_at: The date of each decision (None: the rule set is read from
                each decision's ``policy_version``, else the latest set applies).

        Returns:
            The summary (rates, ratios to the reference tier, whether each rule holds),
            one row per rule set and tier the rows are held to.
        """
        credit = self.settings.credit
        ids = [r.id for r in credit.rule_sets]
        register = text_column(
            pd.DataFrame({"credit_tier": np.asarray(credit_tier, dtype=object)}), "credit_tier"
        )
        if declared_at is not None:
            which = rule_set_index(np.asarray(pd.to_datetime(pd.Series(declared_at))), credit)
        elif "policy_version" in decisions:
            named = decisions["policy_version"].astype(str).str.rsplit("/", n=1).str[-1]
            which = pd.Index(ids).get_indexer(named.to_numpy())
            which = np.where(which < 0, len(ids) - 1, which)
        else:
            which = np.full(len(decisions), len(ids) - 1)
        selected = decisions["selected"].to_numpy(dtype="int64")
        reasons = decisions["selection_reason"].astype(str)
        # Declarations a disclosure covers are no detection target: outside the rates.
        detection = (reasons != DISCLOSURE_REASON).to_numpy()
        parts = []
        met_all = True
        for index in np.unique(which):
            rule_set = credit.rule_sets[int(index)]
            here = (which == index) & detection
            part, met = tier_summary(selected[here], held_to(register[here], rule_set), rule_set)
            parts.append(part)
            met_all &= met
        columns = ["rule_set", "rows", "selected", "rate", "ratio_to_reference", "rule", "met"]
        tiers = pd.concat(parts) if parts else pd.DataFrame(columns=columns)
        tiers.index.name = "credit_tier"
        by_reason = {
            r: int((reasons == r).sum()) for r in SELECTION_REASONS if r and (reasons == r).any()
        }
        lanes = decisions["lane"].astype(str)
        by_lane = {lane: int((lanes == lane).sum()) for lane in LANES if (lanes == lane).any()}
        total = int(selected[detection].sum())
        state = getattr(self, "thresholds_", None)
        return PolicySummary(
            rows=len(decisions),
            selected=total,
            rate=total / len(decisions) if len(decisions) else math.nan,
            target_rate=self.rate_ if state is None else state.rate,
            by_reason=by_reason,
            by_lane=by_lane,
            random_share=by_reason.get("random", 0) / total if total else 0.0,
            tiers=tiers,
            constraints_met=bool(met_all),
        )

    def __repr__(self) -> str:
        return (
            f"SelectionPolicy(rate={self.rate!r}, exploration_share={self.exploration_share!r}, "
            f"random_state={self.random_state!r})"
        )


class RealTimePolicy(SelectionPolicy):
    """A selection policy whose ``decide`` is the real-time :meth:`decide_online`.

    :func:`portsift.models.scoring.score_declarations` calls ``policy.with_params(rate=...)`` and
    then ``decide``; this subclass keeps the saved thresholds across ``with_params`` and
    decides each declaration on its own, so the API shares the scoring path with
    ``portsift score`` and differs from it only in the selection rule.

    Args:
        *args: As for :class:`SelectionPolicy`.
        thresholds: The real-time thresholds fitted at training.
        **kwargs: As for :class:`SelectionPolicy`.
    """

    def __init__(self, *args: Any, thresholds: ThresholdState, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.thresholds_ = thresholds
        self.batch_ = None

    def with_params(self, **changes: Any) -> RealTimePolicy:
        """A copy with some parameters changed and the same thresholds."""
        return RealTimePolicy(**{**self.get_params(), **changes}, thresholds=self.thresholds_)

    def decide(self, scored: pd.DataFrame) -> pd.DataFrame:
        """Decide each declaration on its own (:meth:`SelectionPolicy.decide_online`)."""
        return self.decide_online(scored)
