"""The API's answer model knows every value the selection policy gives."""

from __future__ import annotations

from typing import get_args

from portsift.models.policy import LANES, SELECTION_REASONS
from portsift.models.release import RELEASE_CONDITIONS
from portsift.serving.api_models import Decision


def test_the_answer_knows_every_selection_reason() -> None:
    # A reason the policy can give but the schema lacks would make a valid decision
    # break the OpenAPI document (measure 22 added "disclosure").
    annotation = Decision.model_fields["selection_reason"].annotation
    assert set(get_args(annotation)) == set(SELECTION_REASONS)


def test_the_answer_knows_every_lane_and_release_condition() -> None:
    # Measure 8 added the lane red_remote, measure 14 the column release_condition.
    lane = Decision.model_fields["lane"].annotation
    assert set(get_args(lane)) == set(LANES)
    condition = Decision.model_fields["release_condition"].annotation
    assert set(get_args(condition)) == set(RELEASE_CONDITIONS)
