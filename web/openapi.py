"""The OpenAPI 3.1 document of /api/v1, generated from the route registry.

Paths, parameters, bodies and responses all come from the same `Route` entries and pydantic
models that register and validate the Flask routes, so the document matches the code by
construction; tests/web/test_openapi.py checks both directions and validates real answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from web.api.registry import FILE_PART, PATH_PARAM_RE, Api, Route
from web.api.schemas import MAX_ID, ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
FILE_SCHEMA = {"type": "string", "contentMediaType": "application/octet-stream"}

ERROR_DESCRIPTIONS = {
    400: "the body is not valid JSON",
    403: "a multipart upload with the session cookie but without X-CSRFToken",
    401: "no or an invalid bearer token / session (WWW-Authenticate: Bearer)",
    404: "unknown, or not visible to the signed-in person",
    409: "the state does not allow this now (code conflict or already_decided)",
    413: "the body (or, for an upload, the file) is too large",
    415: "the body is not application/json (an upload: not multipart, or a refused file type)",
    422: "invalid input: `fields` names each problem",
    429: "too many requests (Retry-After)",
}

DESCRIPTION = """\
The JSON API of the online service hall (网上办事大厅).

Sign in with `Authorization: Bearer <token>` (`hall token create USERID` prints one) or the
login session. Errors are `{"error": {"code", "message", "fields"?}}`; messages are zh_CN, or
English when `Accept-Language` prefers it. A person sees only their own applications, the
tasks assigned to them, applications they hold or held a task on or follow, and what their
roles grant; anything else is 404. Commands accept an `Idempotency-Key` header where noted:
a retry with the same key gets the first answer again (`replayed: true`).

Files: `POST /attachments` (multipart/form-data) stores one for an attachment field and
answers its id, which the form (or a decision's `attachments`) then names.
"""


def openapi_path(api: Api, route: Route) -> str:
    return api.prefix + PATH_PARAM_RE.sub(r"{\g<name>}", route.rule)


def build_document(api: Api) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for route in api.routes:
        if route.query is not None:
            wanted.append((route.query, "validation"))
        if route.body is not None:
            wanted.append((route.body, "validation"))
        if route.upload is not None:
            wanted.append((route.upload, "validation"))
        if route.response is not None:
            wanted.append((route.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(unique, ref_template=REF_TEMPLATE)
    schemas: dict[str, Any] = definitions.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    def model_schema(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        name = ref(model, mode)["$ref"].removeprefix("#/components/schemas/")
        found: dict[str, Any] = schemas[name]
        return found

    error = {"application/json": {"schema": ref(ErrorBody, "serialization")}}
    paths: dict[str, dict[str, Any]] = {}
    for route in api.routes:
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": (
                    {"type": "integer", "minimum": 1, "maximum": MAX_ID}
                    if converter == "int"
                    else {"type": "string", "maxLength": 64}
                ),
            }
            for name, converter in route.path_params
        ]
        if route.query is not None:
            schema = model_schema(route.query, "validation")
            required = set(schema.get("required", ()))
            for name, prop in schema.get("properties", {}).items():
                param: dict[str, Any] = {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": prop,
                }
                if "description" in prop:
                    param["description"] = prop["description"]
                parameters.append(param)
        if route.idempotency:
            parameters.append(
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "a client-chosen key; a retry with it replays the answer",
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128},
                }
            )
        answer_schema = (
            ref(route.response, "serialization")
            if route.response is not None
            else {"type": "object"}
        )
        answer = (
            {"application/octet-stream": {"schema": FILE_SCHEMA}}
            if route.binary
            else {"application/json": {"schema": answer_schema}}
        )
        responses: dict[str, Any] = {
            str(route.status): {"description": route.summary, "content": answer}
        }
        for status in route.error_statuses():
            responses[str(status)] = {"description": ERROR_DESCRIPTIONS[status], "content": error}
        operation: dict[str, Any] = {
            "operationId": route.endpoint,
            "summary": route.summary,
            "tags": [route.tag],
            "security": [{"bearer": []}, {"session": []}] if route.auth else [],
            "responses": responses,
        }
        if route.handler.__doc__:
            operation["description"] = route.handler.__doc__.strip()
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            body_schema = model_schema(route.body, "validation")
            operation["requestBody"] = {
                # An empty body reads as {}: it is required only when a field is.
                "required": bool(body_schema.get("required")),
                "content": {"application/json": {"schema": ref(route.body, "validation")}},
            }
        if route.upload is not None:
            parts = model_schema(route.upload, "validation")
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {**parts.get("properties", {}), FILE_PART: FILE_SCHEMA},
                            "required": [*parts.get("required", ()), FILE_PART],
                            "additionalProperties": False,
                        }
                    }
                },
            }
        paths.setdefault(openapi_path(api, route), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": api.title, "version": api.version, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
