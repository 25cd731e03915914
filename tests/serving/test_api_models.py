"""The API's answer model knows every value the selection policy gives."""

from __future__ import annotations

from typing import get_args

from portsift.models.policy import SELECTION_REASONS
from portsift.serving.api_models import Decision


def test_the_answer_knows_every_selection_reason() -> None:
    # A reason the policy can give but the schema lacks would make a valid decision
    # break the OpenAPI document (measure 22 added "disclosure").
    annotation = Decision.model_fields["selection_reason"].annotation
    assert set(get_args(annotation)) == set(SELECTION_REASONS)
