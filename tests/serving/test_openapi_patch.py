"""The BentoML internals serving/openapi_patch.py relies on: these fail loudly when they change."""

from __future__ import annotations

import attrs
import bentoml
import pytest
from bentoml._internal.service.openapi.specification import OpenAPISpecification, PathItem

from portsift.serving.openapi_patch import OPENAPI_VERSION, DocumentedService, document_service
from portsift.serving.service import Portsift


def test_openapi_spec_is_a_property_of_the_service_class() -> None:
    # /docs.json and `bentoml build` read Service.openapi_spec: the patch overrides it.
    assert isinstance(vars(bentoml.Service).get("openapi_spec"), property)
    assert type(Portsift) is DocumentedService
    assert type(Portsift).__mro__[1] is bentoml.Service


def test_the_document_is_the_attrs_class_the_patch_evolves() -> None:
    names = {field.name for field in attrs.fields(OpenAPISpecification)}
    assert {"openapi", "paths", "components"} <= names
    assert "post" in {field.name for field in attrs.fields(PathItem)}
    generated = super(DocumentedService, Portsift).openapi_spec
    assert isinstance(generated, OpenAPISpecification)
    for route in ("/score", "/score_batch", "/feedback"):
        item = generated.paths[route]
        assert isinstance(item, PathItem)
        assert isinstance(item.post, dict) and "responses" in item.post


def test_the_patched_document_describes_the_api() -> None:
    spec = Portsift.openapi_spec.asdict()
    assert spec["openapi"] == OPENAPI_VERSION
    assert "bearer" in spec["components"]["securitySchemes"]
    for route in ("/score", "/score_batch", "/feedback"):
        post = spec["paths"][route]["post"]
        assert {"200", "400", "401", "413", "422", "503"} <= set(post["responses"])
        assert post["security"] == [{"bearer": []}]
        assert "$ref" in post["requestBody"]["content"]["application/json"]["schema"]


def test_document_service_refuses_what_it_does_not_know() -> None:
    with pytest.raises(TypeError, match=r"bentoml\.Service"):
        document_service(Portsift)  # already documented: a second patch is a mistake
