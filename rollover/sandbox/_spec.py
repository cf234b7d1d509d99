"""Request-body schemas from Learn's official OpenAPI spec, and validation against them.

The spec file is vendored beside this module and loaded once. Only the definitions a body schema
refers to are resolved; exactly one definition is corrected (see `_SPEC_CORRECTIONS`), and one
enum of the membership bodies is opened (see `_OPEN_ENUMS`).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

SPEC_FILE = "learn-swagger-3900.65.0.json"

# The generator that produced Learn's spec typed `CourseIdParam` as a bare object, yet Learn's own
# documentation (Anthology, "Copying Courses") sends `{"targetCourse": {"id": "_55_1"}}`: a string
# id, in the same forms as the `{courseId}` path parameter. Taken literally the spec would reject
# every copy into an existing course, so this one definition is replaced; nothing else is touched.
_SPEC_CORRECTIONS: dict[str, dict[str, Any]] = {"CourseIdParam": {"type": "string"}}

MEMBERSHIP_PATH = "/learn/api/public/v1/courses/{courseId}/users/{userId}"

# The spec enumerates the seven built-in roles for `courseRoleId`, yet its own description says
# "Custom course roles may also be referenced by their IDs", and the PUT answers 404 "Role does
# not exist": a role outside the list is looked up, not refused by the schema. So that enum, and
# nothing else of these bodies, is dropped: (method, path) -> where each opened enum sits.
_OPEN_ENUMS: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("put", MEMBERSHIP_PATH): (("properties", "courseRoleId"),),
    ("patch", MEMBERSHIP_PATH): (("properties", "courseRoleId"),),
}

_INT32 = (-(2**31), 2**31 - 1)


@cache
def load_spec() -> dict[str, Any]:
    """The vendored Learn OpenAPI (Swagger 2.0) document, parsed once."""
    text = resources.files("rollover.sandbox").joinpath(SPEC_FILE).read_text(encoding="utf-8")
    spec: dict[str, Any] = json.loads(text)
    return spec


def request_body_schema(method: str, path_template: str) -> dict[str, Any]:
    """The JSON schema of the body of `method path_template`, with every `$ref` resolved."""
    return copy.deepcopy(_resolved_body_schema(method.lower(), path_template))


@cache
def _resolved_body_schema(method: str, path_template: str) -> dict[str, Any]:
    spec = load_spec()
    try:
        operation = spec["paths"][path_template][method]
    except KeyError:
        message = f"the Learn spec has no operation {method.upper()} {path_template}"
        raise KeyError(message) from None
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "body":
            resolved: dict[str, Any] = _resolve(parameter["schema"], spec["definitions"])
            for where in _OPEN_ENUMS.get((method, path_template), ()):
                node = resolved
                for step in where:
                    node = node[step]
                node.pop("enum", None)
            return resolved
    raise KeyError(f"{method.upper()} {path_template} takes no request body in the Learn spec")


def _resolve(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.removeprefix("#/definitions/")
        target = _SPEC_CORRECTIONS.get(name, definitions[name])
        resolved = _resolve(copy.deepcopy(target), definitions)
        # Draft 4 ignores siblings of $ref; keep only annotations such as `description`.
        for key, value in node.items():
            if key != "$ref" and key not in resolved:
                resolved[key] = value
        return resolved
    return {key: _resolve(value, definitions) for key, value in node.items()}


_FORMATS = jsonschema.FormatChecker(formats=())


def _is_date_time(value: object) -> bool:
    # Learn parses ISO 8601 with an explicit offset; a naive time is ambiguous, so refuse it.
    if not isinstance(value, str):
        return True
    if "T" not in value:
        raise ValueError("a date-time needs a time part")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date-time needs a UTC offset or Z")
    return True


def _is_int32(value: object) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    return _INT32[0] <= value <= _INT32[1]


_FORMATS.checks("date-time", raises=ValueError)(_is_date_time)
_FORMATS.checks("int32")(_is_int32)


@cache
def _validator(method: str, path_template: str) -> Any:
    schema = _resolved_body_schema(method, path_template)
    return jsonschema.Draft4Validator(schema, format_checker=_FORMATS)


def validate_request_body(method: str, path_template: str, body: Any) -> list[str]:
    """Every way `body` breaks the spec's schema for that operation, as messages; [] when valid."""
    validator = _validator(method.lower(), path_template)
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
    messages = []
    for error in errors:
        where = ".".join(str(part) for part in error.absolute_path)
        messages.append(f"{where}: {error.message}" if where else error.message)
    return messages


def unknown_fields(method: str, path_template: str, body: Any) -> list[str]:
    """The dotted names of the fields of `body` the operation's schema does not let a client
    write (absent from it, or read-only), in the body's order; [] when there are none."""
    return _unknown(_resolved_body_schema(method.lower(), path_template), body, "")


def _unknown(schema: dict[str, Any], body: Any, prefix: str) -> list[str]:
    properties = schema.get("properties")
    if not isinstance(body, dict) or not isinstance(properties, dict):
        return []
    found: list[str] = []
    for key, value in body.items():
        field_schema = properties.get(key)
        if not isinstance(field_schema, dict) or field_schema.get("readOnly"):
            found.append(f"{prefix}{key}")
        else:
            found.extend(_unknown(field_schema, value, f"{prefix}{key}."))
    return found
