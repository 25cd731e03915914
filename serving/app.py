"""The request path of the scoring API, without any web framework.

:class:`DecisionService` is what a BentoML worker (``serving/service.py``) holds: the
model bundle loaded once, the reference registers (the snapshot saved with the model,
or newer files), the selection policy with the real-time thresholds saved at training,
the audit store and the token verifier. Its :meth:`DecisionService.score` validates JSON
declarations exactly as ``portsift score`` validates a file
(:func:`portsift.features.loading.declarations_from_records`), scores them through
:func:`portsift.models.scoring.score_declarations` (the same features, model, calibration,
TreeSHAP and reasons as the command line), **commits every decision to the audit store
before it returns**, and gives one JSON-ready decision per declaration.

Real time against batch: ``portsift score`` selects exactly ``round(rate x N)`` of a
file (:meth:`SelectionPolicy.decide`). The API cannot see the rest of the day's
declarations, so it decides each one on its own against the per-tier priority
thresholds fitted at training (:meth:`SelectionPolicy.decide_online`): the budget is
met in expectation, and a declaration's ``selected``, ``lane`` and ``selection_reason``
can differ from those the batch gives it. ``risk_score``, ``expected_revenue``,
``raw_score``, ``base_value`` and ``contributions`` are the same in both.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from portsift.features.loading import declarations_from_records
from portsift.features.online import (
    Columns,
    NotCompilableError,
    OnlineFeatures,
    columns_from_frame,
    columns_from_records,
    compile_online,
    concat_columns,
)
from portsift.features.pipeline import Registers
from portsift.features.plausibility import columns_plausible
from portsift.features.validation import InputError
from portsift.models.bundle import Bundle, load_bundle
from portsift.models.explain import Explanation
from portsift.models.policy import RealTimePolicy, SelectionPolicy
from portsift.models.realtime import ThresholdState
from portsift.models.scoring import (
    POLICY_OUTPUT_COLUMNS,
    SCORE_COLUMNS,
    ranking_weight,
    registers_for,
    score_declarations,
    score_online,
)
from portsift.serving.auth import TokenVerifier
from portsift.serving.feedback import record_outcome
from portsift.serving.measures import MEASURE_FIELDS, measure_fields
from portsift.serving.registers import REGISTER_ENV, RegisterFiles, paths_from_env
from portsift.serving.retries import answers_on_record, key_conflict
from portsift.settings import load_settings
from portsift.store.audit import AuditStore
from portsift.store.audit_records import DecisionRecord

logger = logging.getLogger("portsift.serving")

#: Environment variables read by :meth:`DecisionService.from_env` (set by ``portsift serve``;
#: the register files' are :data:`portsift.serving.registers.REGISTER_ENV`).
MODEL_DIR_ENV: Final[str] = "PORTSIFT_MODEL_DIR"
ENTERPRISES_ENV: Final[str] = REGISTER_ENV["enterprises"]
COMMODITIES_ENV: Final[str] = REGISTER_ENV["commodities"]
INSECURE_ENV: Final[str] = "PORTSIFT_INSECURE_DEV"
LANGUAGES: Final[tuple[str, ...]] = ("en", "zh")

#: Decision fields of the response beyond the contract's score and policy columns.
_FLOAT_COLUMNS = (
    "risk_score",
    "expected_revenue",
    "inspection_deadline_hours",
    "release_deadline_hours",
    "sampling_deadline_days",
    "lab_test_deadline_days",
)
_INT_COLUMNS = ("selected", "lab_accepted", "green_channel", "priority_lane")
#: Score and policy columns passed on as they are (text, or numbers turned to JSON).
_PLAIN_COLUMNS = tuple(
    c
    for c in dict.fromkeys((*SCORE_COLUMNS, *POLICY_OUTPUT_COLUMNS))
    if c not in _FLOAT_COLUMNS and c not in _INT_COLUMNS
)


@dataclass(frozen=True)
class ScoreRequest:
    """One request's declarations, the language of its reasons and its name in messages.

    Attributes:
        records: The declarations.
        lang: Language of the reasons.
        source: Name of the input in error messages.
        request_id: The id of the request (the API's ``X-Request-ID``); a fresh uuid4 hex
            when ``None``.
        many: Whether the request is a batch (``/score_batch``): then every decision's
            ``request_id`` is ``<request_id>-<position>``, even for one declaration;
            otherwise only when there are several.
        credential: Name of the API credential that sent it (recorded with each decision).
        idempotency_key: Its ``Idempotency-Key`` header (:mod:`portsift.serving.retries`).
    """

    records: list[dict[str, Any]]
    lang: str = "en"
    source: str = "request"
    request_id: str | None = None
    many: bool = False
    credential: str | None = None
    idempotency_key: str | None = None


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


def language_of(accept_language: str | None, requested: str | None = None) -> str:
    """The reasons' language: an explicit ``lang`` field, else ``Accept-Language``, else en."""
    if requested:
        return requested if requested in LANGUAGES else "en"
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


@dataclass
class DecisionService:
    """Everything a request needs, loaded once per worker.

    Attributes:
        bundle: The verified model bundle.
        registers: Reference registers given to the server (missing ones come from the
            bundle snapshot inside ``score_declarations``).
        policy: The real-time selection policy with the thresholds saved at training.
        audit: The audit store every decision is committed to before it is returned.
        verifier: The bearer-token verifier.
        objective: The ranking objective the bundle was trained for.
        revenue_weight: The priority weight of the revenue at stake under it.
        num_threads: LightGBM threads per call (1: no oversubscription).
        online: The pipeline compiled against the registers for the per-request path
            (None: a pipeline with schema-file features, served by the pandas path).
        max_revenue_to_declared_value: ``[feedback]``'s bound on an outcome's revenue.
        revenue_always_plausible: ``[feedback]``'s revenue accepted whatever the value.
        register_files: The register files given to the server, read again when they
            change (:mod:`portsift.serving.registers`); None: none given.
    """

    bundle: Bundle
    registers: Registers
    policy: SelectionPolicy
    audit: AuditStore
    verifier: TokenVerifier
    objective: str
    revenue_weight: float
    num_threads: int = 1
    online: OnlineFeatures | None = None
    max_revenue_to_declared_value: float = 10.0
    revenue_always_plausible: float = 10000.0
    register_files: RegisterFiles | None = None

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike[str],
        *,
        enterprises: str | None = None,
        commodities: str | None = None,
        disclosures: str | None = None,
        rulings: str | None = None,
        audit_url: str | None = None,
        verifier: TokenVerifier | None = None,
        num_threads: int = 1,
    ) -> DecisionService:
        """Load the bundle, registers, policy thresholds, audit store and tokens.

        Args:
            model_dir: The bundle directory.
            enterprises: A newer enterprise credit register file (None: the bundle's).
            commodities: A newer commodity catalogue file (None: the bundle's).
            disclosures: The voluntary disclosures register file (measure 22).
            rulings: The advance rulings register file (measure 12).
            audit_url: The audit store (None: ``PORTSIFT_AUDIT_URL`` or the default).
            verifier: The token verifier (None: from the environment).
            num_threads: LightGBM threads per call.

        Returns:
            The service; the register files are read again when they change.

        Raises:
            BundleError: The bundle is missing or altered.
            InputError: A register file is invalid.
            ValueError: The bundle has no real-time policy thresholds.
            TokenConfigError: The token configuration is unusable.
        """
        bundle = load_bundle(Path(model_dir))
        saved = bundle.metadata.get("policy_thresholds")
        if not saved:
            raise ValueError(
                f"{model_dir}: the bundle has no policy_thresholds; retrain it with this version"
            )
        state = ThresholdState.from_dict(saved)
        settings = load_settings()
        policy = RealTimePolicy(settings.selection, rate=state.rate, thresholds=state)
        trained_version = bundle.metadata.get("policy_version")
        if trained_version and trained_version != policy.version:
            logger.warning(
                "selection settings changed since training (policy %s, thresholds fitted by "
                "%s): decisions report %s",
                policy.version,
                trained_version,
                policy.version,
            )
        # The real-time thresholds are priorities under the objective in force at training:
        # the service ranks by that objective, whatever the settings say now.
        objective = str((bundle.metadata.get("ranking") or {}).get("objective", "hits"))
        if objective != settings.selection.objective:
            logger.warning(
                "the bundle was trained for objective %s (its thresholds rank by it); "
                "[selection] objective %s applies from the next training",
                objective,
                settings.selection.objective,
            )
        given = {
            "enterprises": enterprises,
            "commodities": commodities,
            "disclosures": disclosures,
            "rulings": rulings,
        }
        files = RegisterFiles.open(
            {kind: path for kind, path in given.items() if path},
            settings.serving.register_check_seconds,
        )
        registers = files.registers()
        # Compiled while loading: the first explained request must not pay for it.
        bundle.model.prepare_explainer()
        return cls(
            bundle=bundle,
            registers=registers,
            policy=policy,
            audit=AuditStore.from_url(audit_url),
            verifier=verifier if verifier is not None else TokenVerifier.from_env(),
            objective=objective,
            revenue_weight=ranking_weight(bundle.metadata, None),
            num_threads=num_threads,
            online=_compiled(bundle, registers),
            max_revenue_to_declared_value=settings.feedback.max_revenue_to_declared_value,
            revenue_always_plausible=settings.feedback.revenue_always_plausible,
            register_files=files if files.paths else None,
        )

    @classmethod
    def from_env(cls, model_dir: str | os.PathLike[str] | None = None) -> DecisionService:
        """Load as configured by ``portsift serve`` (``PORTSIFT_MODEL_DIR`` and friends).

        Args:
            model_dir: The bundle directory (default ``PORTSIFT_MODEL_DIR``).
        """
        model_dir = model_dir or os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise RuntimeError(f"{MODEL_DIR_ENV} is not set: name the model bundle directory")
        return cls.load(model_dir, **paths_from_env())

    def reload_registers(self) -> bool:
        """Put changed register files in force (at most every ``register_check_seconds``).

        Called before each batch is decided, in the batcher's one thread, so that a
        batch is decided against one set of registers throughout.

        Returns:
            Whether the registers in force changed.
        """
        if self.register_files is None or not self.register_files.reload():
            return False
        self.registers = self.register_files.registers()
        self.online = _compiled(self.bundle, self.registers)
        return True

    @property
    def model_version(self) -> str:
        """Version of the model bundle."""
        return self.bundle.model_version

    @property
    def policy_version(self) -> str:
        """Version of the selection policy that decides."""
        return self.policy.version

    def _extra_features(self) -> tuple[list[str], list[str]]:
        # The schema features the model was trained with (read once: to_dict is costly).
        if getattr(self, "_extras", None) is None:
            params = self.bundle.pipeline.to_dict()["params"]
            self._extras = (list(params["extra_categorical"]), list(params["extra_numeric"]))
        return self._extras

    def score(
        self, records: Sequence[Mapping[str, Any]], lang: str = "en", *, source: str = "request"
    ) -> list[dict[str, Any]]:
        """Validate, score, decide, explain and audit declarations; one decision each.

        Args:
            records: Declarations as JSON objects (canonical field names, optional inline
                lab report).
            lang: Language of the reasons (``en`` or ``zh``).
            source: Name of the input in error messages.

        Returns:
            One decision per declaration, in order, each already committed to the audit
            store under its ``request_id``.

        Raises:
            InputError: A missing field or an invalid value (the message names both).
            AuditError: The audit store did not commit (nothing is returned then).
        """
        (result,) = self.score_requests([ScoreRequest(list(records), lang, source)])
        if isinstance(result, InputError):
            raise result
        return result

    def score_requests(
        self, requests: Sequence[ScoreRequest]
    ) -> list[list[dict[str, Any]] | InputError]:
        """Decide several requests in one vectorised pass and one audit transaction.

        What :class:`portsift.serving.batching.MicroBatcher` calls with the requests that queued
        while the previous batch was decided. Each request is validated on its own (a bad
        one gets its own :class:`InputError`, the others are decided); the valid ones are
        scored together, by language, and every decision is committed before any is
        returned.

        Args:
            requests: The requests, each with its declarations, language and source name.

        Returns:
            Per request, its decisions in order or the error that rejected it.

        Raises:
            AuditError: The audit store did not commit (nothing is returned then).
        """
        self.reload_registers()
        results: list[list[dict[str, Any]] | InputError] = []
        prepared: list[tuple[int, Any]] = []
        for position, request in enumerate(requests):
            try:
                prepared.append((position, self._columns_or_frame(request)))
            except InputError as err:
                prepared.append((position, err))
                results.append([])
                continue
            conflict = None
            if request.idempotency_key is not None:
                conflict = key_conflict(
                    self.audit,
                    request.records,
                    credential=request.credential,
                    key=request.idempotency_key,
                )
            if conflict is not None:
                prepared[-1] = (position, conflict)
            results.append([])
        by_lang: dict[str, list[tuple[int, Columns]]] = {}
        for position, ready in prepared:
            if isinstance(ready, InputError):
                results[position] = ready
            elif isinstance(ready, pd.DataFrame):
                results[position] = self._score_frame(ready, _lang(requests[position].lang))
            else:
                by_lang.setdefault(_lang(requests[position].lang), []).append((position, ready))
        for lang, group in by_lang.items():
            decided = self._score_columns(concat_columns([c for _, c in group]), lang)
            start = 0
            for position, columns in group:
                n = len(columns["declaration_id"])
                results[position] = decided[start : start + n]
                start += n
        audit_rows = []
        for request, result in zip(requests, results, strict=True):
            if isinstance(result, InputError):
                continue
            batch = request.request_id or uuid.uuid4().hex
            numbered = request.many or len(result) != 1
            for position, (record, decision) in enumerate(
                zip(request.records, result, strict=True)
            ):
                decision["request_id"] = f"{batch}-{position}" if numbered else batch
                audit_rows.append(
                    DecisionRecord.from_request(
                        request_id=decision["request_id"],
                        declaration=record,
                        decision=decision,
                        model_version=decision["model_version"],
                        policy_version=decision["policy_version"],
                        credential=request.credential,
                        idempotency_key=request.idempotency_key,
                    )
                )
        if not audit_rows:
            return results
        # Durable when it returns; a repeat writes nothing and is answered as on record.
        recorded = iter(self.audit.record_decisions(audit_rows, skip_repeats=True))
        for position, result in enumerate(results):
            if not isinstance(result, InputError):
                mine = [next(recorded) for _ in result]
                results[position] = answers_on_record(result, mine)
        return results

    def _columns_or_frame(self, request: ScoreRequest) -> Columns | pd.DataFrame:
        """The request's declarations as arrays (per-request path) or as a frame (pandas)."""
        records = [dict(r) for r in request.records]
        # Clean JSON goes straight to arrays; anything the fast reader is not sure of goes
        # through the loader, which normalises it or names the field and record.
        if self.online is not None:
            columns = columns_from_records(records)
            # The fast reader checks types and signs; bounds and characters are checked
            # here, so that a direct caller meets the same rule as the API and the files.
            if columns is not None and columns_plausible(columns):
                return columns
        frame = self._validated(records, request.source)
        return columns_from_frame(frame) if self.online is not None else frame

    def _score_columns(self, columns: Columns, lang: str) -> list[dict[str, Any]]:
        assert self.online is not None
        scored = score_online(
            self.bundle,
            self.online,
            columns,
            policy=self.policy,
            revenue_weight=self.revenue_weight,
            lang=lang,
            num_threads=self.num_threads,
        )
        return self._decisions(
            scored.decisions, scored.explanation, scored.features, scored.risk_matrix
        )

    def _score_frame(self, frame: pd.DataFrame, lang: str) -> list[dict[str, Any]]:
        scored = score_declarations(
            self.bundle,
            frame,
            self.registers,
            rate=self.policy.rate_,
            revenue_weight=self.revenue_weight,
            policy=self.policy,
            lang=lang,
            num_threads=self.num_threads,
        )
        table = scored.decisions
        return self._decisions(
            {c: table[c].to_numpy() for c in table.columns}, scored.explanation, scored.features
        )

    def _validated(self, records: list[dict[str, Any]], source: str) -> pd.DataFrame:
        """Declarations validated by the loader, with the schema features the model needs."""
        extra_cat, extra_num = self._extra_features()
        loaded = declarations_from_records(
            records, source=source, extra_categorical=extra_cat, extra_numeric=extra_num
        )
        missing = [c for c in (*extra_cat, *extra_num) if c not in loaded.frame]
        if missing:
            raise InputError(
                f"{source}: the model was trained with schema feature(s) {', '.join(missing)}; "
                "send them with every declaration",
                file=source,
                column=missing[0],
            )
        return loaded.frame

    def _decisions(
        self,
        columns: Mapping[str, np.ndarray],
        explanation: Explanation | None,
        features: Mapping[str, Any] | pd.DataFrame,
        matrix: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """One JSON-ready decision per row, from decision columns and the explanation.

        Args:
            columns: The decision columns.
            explanation: The contributions of every row.
            features: The features the model saw.
            matrix: ``features`` of ``explanation.features`` as one float64 matrix, if the
                caller has it already (the risk-feature matrix the model scored).

        Returns:
            The decisions, keys in the order of the answer.
        """
        assert explanation is not None  # the API always explains
        names = explanation.features
        if matrix is None:
            matrix = _matrix(features, names)
        # Feature values that are NaN or infinite are answered as null: in one pass.
        values = np.where(np.isfinite(matrix), matrix, None).tolist()
        shap = explanation.values.tolist()
        base = explanation.base_value.tolist()
        # Every cell converted column by column, as Python lists (not numpy scalars per
        # cell), then zipped into rows whose keys keep the answer's order.
        cells = [
            *([_json_value(v) for v in np.asarray(columns[c]).tolist()] for c in _PLAIN_COLUMNS),
            *(
                [_finite_or_none(v) for v in np.asarray(columns[c], dtype="float64").tolist()]
                for c in _FLOAT_COLUMNS
            ),
            *([int(v) for v in np.asarray(columns[c]).astype(bool).tolist()] for c in _INT_COLUMNS),
        ]
        keys = (*_PLAIN_COLUMNS, *_FLOAT_COLUMNS, *_INT_COLUMNS)
        ids = [str(v) for v in np.asarray(columns["declaration_id"]).tolist()]
        raw = np.asarray(columns["raw_score"], dtype="float64").tolist()
        estimated = np.asarray(columns["revenue_estimated"]).astype(bool).tolist()
        model_version, objective, weight = self.model_version, self.objective, self.revenue_weight
        measures = measure_fields(self.policy.settings, features, columns)
        out: list[dict[str, Any]] = []
        for i, row in enumerate(zip(*cells, strict=True)):
            decision: dict[str, Any] = dict(zip(keys, row, strict=True))
            decision["declaration_id"] = ids[i]
            decision["model_version"] = model_version
            decision["objective"] = objective
            decision["revenue_weight"] = weight
            decision["raw_score"] = raw[i]
            decision["base_value"] = base[i]
            decision["revenue_estimated"] = estimated[i]
            for name in MEASURE_FIELDS:
                decision[name] = measures[name][i]
            decision["contributions"] = [
                {"feature": name, "value": value, "shap": contribution}
                for name, value, contribution in zip(names, values[i], shap[i], strict=True)
            ]
            out.append(decision)
        return out

    def feedback(
        self, record: Mapping[str, Any], *, credential: str, request_id: str | None = None
    ) -> dict[str, Any]:
        """Record an inspection outcome (``declaration_id, inspected, illicit, revenue``).

        See :func:`portsift.serving.feedback.record_outcome` for what is accepted.

        Args:
            record: The JSON object sent.
            credential: Name of the API credential that sent it.
            request_id: The HTTP request's id.

        Returns:
            The receipt.

        Raises:
            FeedbackError: An invalid or implausible value (``field`` names it).
            UnknownDeclarationError: No decision for the declaration is on record.
            AuditError: The store did not commit.
        """
        return record_outcome(
            self.audit,
            record,
            credential=credential,
            request_id=request_id,
            max_revenue_to_declared_value=self.max_revenue_to_declared_value,
            revenue_always_plausible=self.revenue_always_plausible,
        )

    def close(self) -> None:
        """Close the audit store."""
        self.audit.close()


def _compiled(bundle: Bundle, registers: Registers) -> OnlineFeatures | None:
    """The per-request path compiled against the registers (None: the pandas path)."""
    try:
        return compile_online(bundle.pipeline, registers_for(bundle, registers))
    except NotCompilableError as err:
        logger.info("per-request path off (%s): every request uses the pandas path", err)
        return None


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _matrix(features: Mapping[str, Any] | pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    if isinstance(features, pd.DataFrame):
        return features.reset_index(drop=True)[list(names)].to_numpy(dtype="float64")
    return np.column_stack([np.asarray(features[n], dtype="float64") for n in names])


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
