"""The route registry of /api/v1: one table registers the Flask routes AND feeds the
OpenAPI document, so the two cannot drift apart.

    @api.route("GET", "/applications", query=ApplicationsQuery, response=ApplicationPage,
               summary="我的申请")
    def list_applications(call: ApiCall) -> ApplicationPage: ...

Every call goes through `ApiView`: authenticate (bearer token or the login session), check
path ids, parse the query string and the JSON body with the route's pydantic models, run
the handler, map domain errors to `{"error": {"code", "message", "fields"?}}`, and check
that the answer is the documented response model.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify, request, session
from flask_wtf.csrf import CSRFError, CSRFProtect
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge
from werkzeug.exceptions import NotFound as NotFound404

from hall.db import Database
from hall.definitions import UPLOAD_MAX_MB
from hall.errors import AlreadyDecided, Conflict, HallError, Invalid, NotFound, RateLimited
from hall.models import Person, PersonStatus
from hall.tokens import person_for_token
from web.api.messages import Locale, field_message, locale_of, message
from web.api.schemas import MAX_ID, ErrorBody, ErrorDetail

log = logging.getLogger("hall.api")

MAX_BODY_KB = 256
MAX_UPLOAD_MB = UPLOAD_MAX_MB + 2  # a multipart body; each field sets its file's limit
FILE_PART = "file"  # the one file part of a multipart body
CSRF_PART = "csrf_token"
# Only its protect() is used, on the app the pages' instance was initialised on.
_csrf = CSRFProtect()
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # visible ASCII, as stored
PATH_PARAM_RE = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")

Method = Literal["GET", "POST"]
M = TypeVar("M", bound=BaseModel)
Handler = Callable[..., BaseModel | dict[str, Any] | Response]


class ApiError(Exception):
    """An error the API itself answers (before or around a service call)."""

    def __init__(
        self, status: int, code: str, *, fields: dict[str, str] | None = None, **params: Any
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.fields = fields
        self.params = params


@dataclass(frozen=True)
class Route:
    method: Method
    rule: str  # Flask rule under the prefix, e.g. "/applications/<int:application_id>"
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None  # None: a free-form JSON object (the OpenAPI document)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # A multipart/form-data body instead of JSON: these text parts plus one file part.
    upload: type[BaseModel] | None = None
    binary: bool = False  # answers a file (the handler's Response), not JSON
    status: int = 200
    auth: bool = True
    idempotency: bool = False  # takes an Idempotency-Key header
    errors: tuple[int, ...] = ()  # statuses beyond those derived from the route's shape

    @property
    def endpoint(self) -> str:
        return self.handler.__name__

    @property
    def path_params(self) -> list[tuple[str, str]]:
        """(name, converter) of each path parameter, in order."""
        return [
            (m.group("name"), m.group("converter") or "string")
            for m in PATH_PARAM_RE.finditer(self.rule)
        ]

    def error_statuses(self) -> list[int]:
        statuses = set(self.errors)
        if self.auth:
            statuses.add(401)
        if self.path_params:
            statuses.add(404)
        if self.query is not None or self.body is not None or self.idempotency:
            statuses.add(422)
        if self.body is not None:
            statuses.update({400, 413, 415})
        if self.upload is not None:
            statuses.update({403, 413, 415, 422})
        return sorted(statuses)


@dataclass
class ApiCall:
    """What a handler gets: the database, the signed-in person, the parsed input."""

    db: Database
    person_id: int
    locale: Locale
    body: BaseModel | None = None
    query: BaseModel | None = None
    idempotency_key: str | None = None
    file: FileStorage | None = None  # an upload route's file part

    def body_as(self, model: type[M]) -> M:
        if not isinstance(self.body, model):
            raise TypeError(f"the route's body model is not {model.__name__}")
        return self.body

    def query_as(self, model: type[M]) -> M:
        if not isinstance(self.query, model):
            raise TypeError(f"the route's query model is not {model.__name__}")
        return self.query


@dataclass
class Api:
    """The registry: routes in declaration order, under one URL prefix."""

    prefix: str
    title: str
    version: str
    routes: list[Route] = field(default_factory=list)

    def route(
        self,
        method: Method,
        rule: str,
        *,
        summary: str,
        tag: str,
        response: type[BaseModel] | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        upload: type[BaseModel] | None = None,
        binary: bool = False,
        status: int = 200,
        auth: bool = True,
        idempotency: bool = False,
        errors: tuple[int, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(
                Route(
                    method=method,
                    rule=rule,
                    handler=handler,
                    summary=summary,
                    tag=tag,
                    response=response,
                    body=body,
                    query=query,
                    upload=upload,
                    binary=binary,
                    status=status,
                    auth=auth,
                    idempotency=idempotency,
                    errors=errors,
                )
            )
            return handler

        return register

    def blueprint(self) -> Blueprint:
        """A fresh blueprint with every registered route (one per app)."""
        bp = Blueprint("api_v1", __name__, url_prefix=self.prefix)
        for route in self.routes:
            bp.add_url_rule(
                route.rule,
                endpoint=route.endpoint,
                view_func=ApiView(route),
                methods=[route.method],
            )
        return bp


class ApiView:
    """The Flask view of one route."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self.__name__ = route.endpoint

    def __call__(self, **path: Any) -> Response:
        locale = locale_of(request)
        person_id: int | None = None
        try:
            db: Database = current_app.extensions["hall.db"]
            uploads = self.route.upload is not None
            request.max_content_length = (
                MAX_UPLOAD_MB * 1024 * 1024 if uploads else MAX_BODY_KB * 1024
            )
            via_session = False
            if self.route.auth:
                person_id, via_session = authenticate(db)
            _check_path_ids(path)
            call = ApiCall(db=db, person_id=person_id or 0, locale=locale)
            call.query = self._parse_query()
            if uploads:
                call.body, call.file = self._parse_upload(via_session=via_session)
            else:
                call.body = self._parse_body(via_session=via_session)
            if self.route.idempotency:
                call.idempotency_key = _idempotency_key()
            result = self.route.handler(call, **path)
        except ApiError as exc:
            return _api_error(exc, locale, person_id)
        except HallError as exc:
            return _hall_error(exc, locale, person_id)
        return self._answer(result)

    def _parse_query(self) -> BaseModel | None:
        args = request.args.to_dict(flat=True)
        model = self.route.query
        if model is None:
            if args:
                fields = {
                    name: field_message("extra_forbidden", locale_of(request), None)
                    for name in args
                }
                raise ApiError(422, "invalid", fields=fields)
            return None
        try:
            return model.model_validate(args)
        except ValidationError as exc:
            raise ApiError(422, "invalid", fields=_fields(exc, locale_of(request))) from None

    def _parse_body(self, *, via_session: bool) -> BaseModel | None:
        model = self.route.body
        if model is None:
            return None
        try:
            raw = request.get_data(cache=True)
        except RequestEntityTooLarge:
            raise ApiError(413, "too_large", limit=MAX_BODY_KB) from None
        # A session-authenticated write must be JSON: an HTML form on another site cannot
        # send that without a CORS preflight, which this API never grants.
        if (raw or via_session) and not request.is_json:
            raise ApiError(415, "unsupported_media_type")
        data: Any = {}
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                raise ApiError(400, "invalid_json") from None
        if not isinstance(data, dict):
            fields = {"body": field_message("dict_type", locale_of(request), None)}
            raise ApiError(422, "invalid", fields=fields)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ApiError(422, "invalid", fields=_fields(exc, locale_of(request))) from None

    def _parse_upload(self, *, via_session: bool) -> tuple[BaseModel, FileStorage]:
        model = self.route.upload
        assert model is not None
        if request.mimetype != "multipart/form-data":
            raise ApiError(415, "multipart_required")
        try:
            parts = request.form.to_dict(flat=True)
            uploaded = request.files
        except RequestEntityTooLarge:
            raise ApiError(413, "too_large", limit=MAX_UPLOAD_MB * 1024) from None
        # Unlike JSON, a multipart POST is what any page on any site may send: with the
        # session cookie, it must carry the page's CSRF token (X-CSRFToken or csrf_token).
        if via_session:
            try:
                _csrf.protect()
            except CSRFError:
                raise ApiError(403, "csrf") from None
        parts.pop(CSRF_PART, None)
        locale = locale_of(request)
        fields = {
            name: field_message("extra_forbidden", locale, None)
            for name in uploaded
            if name != FILE_PART
        }
        file = uploaded.get(FILE_PART)
        if file is None or not file.filename:
            fields[FILE_PART] = field_message("missing", locale, None)
        try:
            body = model.model_validate(parts)
        except ValidationError as exc:
            fields.update(_fields(exc, locale))
        if fields or file is None:
            raise ApiError(422, "invalid", fields=fields)
        return body, file

    def _answer(self, result: BaseModel | dict[str, Any] | Response) -> Response:
        if isinstance(result, Response):
            if not self.route.binary:
                raise TypeError(f"{self.route.endpoint} must answer JSON")
            return result
        expected = self.route.response
        if expected is None:
            if not isinstance(result, dict):
                raise TypeError(f"{self.route.endpoint} must answer a JSON object")
            payload = result
        else:
            if not isinstance(result, expected):
                raise TypeError(f"{self.route.endpoint} must answer {expected.__name__}")
            payload = result.model_dump(mode="json")
        response = jsonify(payload)
        response.status_code = self.route.status
        return response


def authenticate(db: Database) -> tuple[int, bool]:
    """The signed-in person's id and whether it came from the session cookie.

    A bearer token wins over the session; a bad token is refused even with a session.
    """
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "invalid_token")
        with db.unit_of_work() as s:
            person = person_for_token(s, token)
            if person is None:
                raise ApiError(401, "invalid_token")
            return person.id, False
    person_id = session.get("person_id")
    if isinstance(person_id, int) and not isinstance(person_id, bool):
        with db.reader() as s:
            active = s.scalar(
                select(Person.id).where(
                    Person.id == person_id, Person.status == PersonStatus.ACTIVE
                )
            )
        if active is not None:
            return active, True
    raise ApiError(401, "unauthorized")


def _check_path_ids(path: dict[str, Any]) -> None:
    for value in path.values():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound("未找到")


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        locale = locale_of(request)
        text = {
            "zh_CN": "应为 1 到 128 个可见 ASCII 字符",
            "en": "must be 1 to 128 visible ASCII characters",
        }[locale]
        raise ApiError(422, "invalid", fields={"Idempotency-Key": text})
    return key


def _fields(exc: ValidationError, locale: Locale) -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "body"
        fields.setdefault(where, field_message(err["type"], locale, err.get("ctx")))
    return fields


def _error_response(
    status: int,
    code: str,
    text: str,
    fields: dict[str, str] | None,
    headers: dict[str, str] | None = None,
) -> Response:
    body = ErrorBody(error=ErrorDetail(code=code, message=text, fields=fields or None))
    response = jsonify(body.model_dump(mode="json", exclude_none=True))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _log(status: int, code: str, person_id: int | None, fields: dict[str, str] | None) -> None:
    level = logging.WARNING if status in {400, 413, 415, 422} else logging.INFO
    log.log(
        level,
        "%s %s -> %s %s person=%s fields=%s",
        request.method,
        request.path,
        status,
        code,
        person_id,
        fields or {},
    )


def _api_error(exc: ApiError, locale: Locale, person_id: int | None) -> Response:
    _log(exc.status, exc.code, person_id, exc.fields)
    headers: dict[str, str] = {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = (
            'Bearer realm="hall", error="invalid_token"'
            if exc.code == "invalid_token"
            else 'Bearer realm="hall"'
        )
    text = message(exc.code, locale, **exc.params)
    return _error_response(exc.status, exc.code, text, exc.fields, headers)


def _hall_error(exc: HallError, locale: Locale, person_id: int | None) -> Response:
    status = 422
    headers: dict[str, str] = {}
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, RateLimited):
        status = 429
        retry_after = exc.detail.get("retry_after")
        if isinstance(retry_after, int | float):
            headers["Retry-After"] = str(max(1, int(retry_after)))
    elif isinstance(exc, AlreadyDecided | Conflict):
        status = 409
    elif isinstance(exc, Invalid):
        status = 422
    raw_fields = exc.detail.get("fields")
    fields = (
        {str(k): str(v) for k, v in raw_fields.items()} if isinstance(raw_fields, dict) else None
    )
    _log(status, exc.code, person_id, fields)
    # A 404 never echoes the service's wording: it must not tell "hidden" from "absent".
    text = message(exc.code, locale) if locale == "en" or status == 404 else exc.message
    return _error_response(status, exc.code, text, fields, headers)


def init_registry(app: Flask, api: Api) -> None:
    app.register_blueprint(api.blueprint())
    app.extensions["hall.api"] = api
    # Routing errors happen before any blueprint is chosen: answer them in JSON under the
    # API's prefix and hand every other path to the handler the pages registered before
    # (init_app of the API runs last in the app factory for this reason).
    for status, exc_class in ((404, NotFound404), (405, MethodNotAllowed)):
        previous = app.error_handler_spec[None][status].get(exc_class)
        app.register_error_handler(status, _routing_error(api.prefix, previous))


def _routing_error(
    prefix: str, previous: Callable[[Any], Any] | None
) -> Callable[[HTTPException], Any]:
    def handle(exc: HTTPException) -> Any:
        if request.path != prefix and not request.path.startswith(prefix + "/"):
            return previous(exc) if previous is not None else exc
        code = "method_not_allowed" if exc.code == 405 else "not_found"
        status = exc.code or 404
        _log(status, code, None, None)
        response = _error_response(status, code, message(code, locale_of(request)), None)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    return handle
