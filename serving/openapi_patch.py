"""The one place portsift patches BentoML: the OpenAPI document of ``/docs.json``.

BentoML 1.4 has no public way to change the document it generates (its maintainers say
so: https://github.com/bentoml/BentoML/discussions/2367), and the document it writes
misdescribes this API (see :func:`describe_api`). So the service object the
``@bentoml.service`` decorator made is given a subclass whose ``openapi_spec`` property
corrects the document (:func:`document_service`). It relies on three internals, each
checked by ``tests/serving/test_openapi_patch.py``, which fails loudly when BentoML
changes them:

* ``openapi_spec`` is a property of the service object's class (``/docs.json`` and
  ``bentoml build`` both read it);
* the document is an attrs class (``bentoml._internal.service.openapi.specification
  .OpenAPISpecification``) with ``openapi``, ``paths`` and ``components`` fields;
* each path is a ``PathItem`` whose ``post`` is a plain dict with ``responses``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import bentoml
from pydantic import BaseModel

from portsift.serving.api_models import (
    Decision,
    Declaration,
    ErrorBody,
    Feedback,
    FeedbackReceipt,
    ScoreBatchRequest,
)

if TYPE_CHECKING:
    from bentoml._internal.service.openapi.specification import OpenAPISpecification

#: Version of the OpenAPI document: 3.1, whose schemas are the JSON Schema pydantic writes
#: (``{"type": "null"}`` in an ``anyOf`` is how an optional field is spelt; 3.0 has no
#: such type).
OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
_SECURITY_SCHEME = "bearer"

#: The request model, the answer's schema and the description of each API route.
_ROUTES: dict[str, tuple[type[BaseModel], dict[str, Any], str]] = {
    "/score": (Declaration, {"$ref": _REF.format(model="Decision")}, "the decision"),
    "/score_batch": (
        ScoreBatchRequest,
        {"type": "array", "items": {"$ref": _REF.format(model="Decision")}},
        "the decisions, in the order of the declarations",
    ),
    "/feedback": (Feedback, {"$ref": _REF.format(model="FeedbackReceipt")}, "the receipt"),
}

#: Error answers of every API route (500 stays as BentoML describes it).
_ERRORS: dict[int, str] = {
    400: "The body is not JSON, names a key twice, or does not have the shape of the request "
    "(`detail` lists pydantic's problems, `field` names the first field)",
    401: "No accepted `Authorization: Bearer <token>`",
    403: "The token's credential lacks the scope the route needs (`score`, `feedback`)",
    404: "`/feedback`: no decision for the declaration is on record",
    413: "The body is larger than the server accepts (`PORTSIFT_MAX_BODY_BYTES`)",
    415: "The body is not `application/json`",
    422: "A value the loader refuses (`field` names it; `records` the 1-based positions in "
    "a batch)",
    503: "The audit store did not commit: nothing was decided or recorded; retry",
}

#: The header every answer carries (serving.logs): the id the decision is stored under.
_REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "description": "The request's id (uuid4 hex): a decision's `request_id` for `/score`, "
        "`<id>-<position>` for `/score_batch`; quote it when asking about a refusal",
        "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    }
}


def _model_schemas(model: type[BaseModel], mode: str) -> dict[str, dict[str, Any]]:
    """A model's JSON schema and those of the models it nests, by component name."""
    schema = model.model_json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
    schemas = schema.pop("$defs", {})
    schemas[model.__name__] = schema
    return schemas


def describe_api(spec: OpenAPISpecification) -> OpenAPISpecification:
    """The document BentoML generates, corrected to describe what the API really does.

    BentoML inlines each route's request and answer schema and, doing so, keeps only the
    first member of every ``anyOf``: optional fields lose ``null`` (a green decision's
    ``null`` deadlines, ``"illicit": null`` in feedback) and ``str | int`` identifiers
    lose ``int``. It documents the 400 body's ``detail`` as a string (it is pydantic's
    list of problems) and leaves out the 401, 413, 415, 422 and 503 this API answers, the
    ``X-Request-ID`` header of every answer and the bearer token it needs. Here the routes
    refer to the pydantic models' own schemas instead, the error answers are
    :class:`~portsift.serving.api_models.ErrorBody`, and the bearer scheme is declared.

    Args:
        spec: The document :attr:`bentoml.Service.openapi_spec` generated.

    Returns:
        The corrected document (the argument is left as it was).
    """
    # generate_spec passes a plain dict; a Components object is read as one too.
    components: dict[str, Any] = {}
    if isinstance(spec.components, dict):
        components = spec.components
    elif spec.components is not None:
        components = spec.components.asdict()
    schemas = dict(components.get("schemas", {}))
    for model, mode in (
        (Declaration, "validation"),
        (ScoreBatchRequest, "validation"),
        (Feedback, "validation"),
        (Decision, "serialization"),
        (FeedbackReceipt, "serialization"),
        (ErrorBody, "serialization"),
    ):
        schemas.update(_model_schemas(model, mode))
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}}}
    paths = dict(spec.paths)
    for route, (request_model, answer, answered) in _ROUTES.items():
        item = paths.get(route)
        if item is None or not isinstance(item.post, dict):
            continue  # not served (or not generated as expected): nothing to correct
        post = dict(item.post)
        responses = {str(code): value for code, value in post["responses"].items()}
        responses["200"] = {
            "description": f"Committed to the audit store first: {answered}",
            "headers": _REQUEST_ID_HEADER,
            "content": {"application/json": {"schema": answer}},
        }
        for code, description in _ERRORS.items():
            responses[str(code)] = {
                "description": description,
                "headers": _REQUEST_ID_HEADER,
                **error,
            }
        post["responses"] = dict(sorted(responses.items()))
        post["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(model=request_model.__name__)}}
            },
        }
        post["security"] = [{_SECURITY_SCHEME: []}]
        paths[route] = attrs.evolve(item, post=post)
    components = {
        **components,
        "schemas": schemas,
        "securitySchemes": {
            _SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "a token of PORTSIFT_API_TOKENS (or PORTSIFT_API_TOKEN_FILE)",
            }
        },
    }
    return attrs.evolve(spec, openapi=OPENAPI_VERSION, paths=paths, components=components)


class DocumentedService(bentoml.Service):  # type: ignore[misc]
    """The BentoML service class, with :func:`describe_api` applied to its document."""

    __slots__ = ()

    @property
    def openapi_spec(self) -> OpenAPISpecification:
        """The OpenAPI document of ``/docs.json`` (and of a built bento)."""
        return describe_api(super().openapi_spec)


def document_service(service: bentoml.Service) -> None:
    """Make a BentoML service object serve :func:`describe_api`'s document.

    BentoML builds the document in its service object, which the decorator made; giving
    that object the subclass :class:`DocumentedService` is the one place ``/docs.json``
    and ``bentoml build`` both read.

    Args:
        service: What ``@bentoml.service`` returned.

    Raises:
        TypeError: The object is not a plain ``bentoml.Service`` (BentoML changed what
            the decorator returns, or it was patched already).
    """
    if type(service) is not bentoml.Service:
        raise TypeError(f"expected a bentoml.Service to document, got {type(service)!r}")
    service.__class__ = DocumentedService
