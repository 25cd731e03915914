"""A bare BentoML service, the floor that ``benchmarks/serve.py`` compares ``/score`` with.

It is the scoring service with everything of portsift's own request path taken out:
the same BentoML settings (workers, threads, traffic, read from
:class:`portsift.serving.service.Portsift` so that the two cannot drift apart), the same
:class:`~portsift.serving.service.GuardMiddleware` (bearer token and body cap, so the auth cost is
equal) and the same pydantic :data:`~portsift.serving.api_models.Declaration` input model (so the
validation cost is equal). Two endpoints:

* ``POST /predict``: a few numeric fields of the declaration go into a float64 numpy row
  (no feature pipeline, no registers, no SHAP, no audit), the rest of the row is NaN, and
  the bundle's LightGBM risk booster predicts it on one thread: ``{"score": float}``.
  What ``/score`` costs above this is portsift's request path.
* ``POST /noop``: ``{"ok": true}`` once the body has been validated: the cost of HTTP,
  BentoML, the middleware and pydantic alone.

Not part of the product and never deployed. Configuration from the environment:
``PORTSIFT_MODEL_DIR`` (the bundle; ``risk_model.txt`` is read from it) and
``PORTSIFT_API_TOKENS`` / ``PORTSIFT_API_TOKEN_FILE`` (read by the middleware). Run by
hand from the repository root with::

    PORTSIFT_MODEL_DIR=demo/model PORTSIFT_API_TOKENS=... \\
        .venv/bin/bentoml serve benchmarks.bare_service:Bare --working-dir .
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import bentoml
import lightgbm
import numpy as np

from portsift.serving.api_models import Declaration
from portsift.serving.service import GuardMiddleware, Portsift, exit_with_the_arbiter

#: Environment variable naming the bundle directory (the one ``portsift serve`` sets).
MODEL_DIR_ENV = "PORTSIFT_MODEL_DIR"
#: The risk booster's file in a bundle.
RISK_MODEL_FILE = "risk_model.txt"

#: Portsift's BentoML settings, copied so that this service runs under the same ones: a
#: second worker or thread here would make the floor unfairly fast (or slow), and so would
#: an access log line that one of them writes and the other does not. Only the scheduling
#: and logging keys are taken; names and labels are the service's own.
_SCHEDULING_KEYS = ("workers", "threads", "traffic", "logging")
SERVICE_CONFIG: dict[str, Any] = {
    key: copy.deepcopy(Portsift.config[key]) for key in _SCHEDULING_KEYS if key in Portsift.config
}


def _ratio(numerator: float | None, denominator: float | None) -> float:
    if numerator is None or denominator is None or denominator <= 0:
        return math.nan
    return numerator / denominator


#: The fixed mapping from a declaration to booster columns: the handful of model inputs
#: that are plain arithmetic on the declaration's own numbers (as ``features/`` computes
#: them), put at the column of that name. Every other column stays NaN. The values only
#: need to be plausible, so that the row takes realistic paths down the trees; the point
#: is the cost of one ``Booster.predict`` on a numpy row, not a meaningful score.
ROW_FIELDS: dict[str, Any] = {
    "tax_rate": lambda d: d.tax_rate if d.tax_rate is not None else math.nan,
    "log_declared_value": lambda d: math.log1p(d.declared_value),
    "net_gross_ratio": lambda d: _ratio(d.net_weight, d.gross_weight),
    "cif_fob_ratio": lambda d: _ratio(d.declared_value, d.fob_value),
}


@bentoml.service(name="portsift-bare", labels={"project": "portsift-benchmark"}, **SERVICE_CONFIG)
class Bare:
    """The serving floor: auth, validation and one LightGBM ``predict`` on a numpy row."""

    def __init__(self) -> None:
        # As Portsift does: a worker orphaned by a killed arbiter must not linger on its port.
        exit_with_the_arbiter()
        model_dir = os.environ.get(MODEL_DIR_ENV)
        if not model_dir:
            raise RuntimeError(f"{MODEL_DIR_ENV} is not set: which bundle's booster to load?")
        self.booster = lightgbm.Booster(model_file=str(Path(model_dir) / RISK_MODEL_FILE))
        names = self.booster.feature_name()
        self.n_features: int = self.booster.num_feature()
        # Resolved once: (column, how to compute it) for the columns this booster has.
        self.columns: list[tuple[int, Any]] = [
            (names.index(name), compute) for name, compute in ROW_FIELDS.items() if name in names
        ]

    @bentoml.api(route="/predict")
    def predict(self, declaration: Declaration, /) -> dict[str, float]:  # type: ignore[valid-type]
        """Score one declaration's raw numbers with the risk booster (no feature pipeline)."""
        row = np.full((1, self.n_features), np.nan, dtype=np.float64)
        for column, compute in self.columns:
            row[0, column] = compute(declaration)
        # One thread, as portsift serve runs LightGBM (OMP_NUM_THREADS=1, one worker).
        score = self.booster.predict(row, num_threads=1)
        return {"score": float(score[0])}

    @bentoml.api(route="/noop")
    def noop(self, declaration: Declaration, /) -> dict[str, bool]:  # type: ignore[valid-type]
        """Answer at once: BentoML has parsed and validated the body, nothing more is done."""
        return {"ok": True}


# The same middleware instance type as Portsift's, so tokens are checked the same way.
Bare.add_asgi_middleware(GuardMiddleware)
