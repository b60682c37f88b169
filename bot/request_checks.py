"""The app-wide dependency that answers 422 to path, query and body values no database stores alike."""

from typing import Any, get_args

from fastapi import Request

from bot.input_checks import InputRefused, Problem, loads, refused, text_problem, value_problem

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # ids, offsets and counts: PostgreSQL's INTEGER


async def check_request(request: Request) -> None:
    """Runs before every route: path, query and JSON body values that no database stores alike are a 422.

    Routes that read their body raw (the Slack and Telegram webhooks) check it with `loads`/`checked` after
    verifying the sender, so an unsigned request is refused before its body is read.
    """
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    int_params = _int_params(dependant)
    for where, values in (("path", request.path_params), ("query", request.query_params)):
        for name, value in values.items():
            if problem := text_problem(value, (where, name)) or _int_problem(value, (where, name), name, int_params):
                raise refused(problem)
    body_field = getattr(route, "body_field", None)
    if body_field is None or not _is_json(request):
        return
    try:
        body = loads(await request.body())
    except InputRefused as error:
        raise refused(error.problem) from None
    except ValueError:
        return  # malformed JSON: FastAPI already answered it with its json_invalid 422
    if problem := value_problem(body) or _body_int_problem(body, body_field):
        raise refused(problem)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


def _int_params(dependant) -> set[str]:
    names, stack = set(), [dependant]
    while stack:
        current = stack.pop()
        for field in [*current.path_params, *current.query_params]:
            if _is_int(field.field_info.annotation):
                names.add(field.alias or field.name)
        stack.extend(current.dependencies)
    return names


def _is_int(annotation: Any) -> bool:
    return annotation is int or (int in get_args(annotation) and bool not in get_args(annotation))


def _int_problem(value: str, loc: tuple[str, str], name: str, int_params: set[str]) -> Problem | None:
    if name not in int_params:
        return None
    try:
        number = int(value)
    except ValueError:
        return None  # FastAPI's own int_parsing error says it
    if INT32_MIN <= number <= INT32_MAX:
        return None
    return Problem(loc, f"must be between {INT32_MIN} and {INT32_MAX}; no id or count is larger.",
                   "int_out_of_range")


def _body_int_problem(body: Any, body_field) -> Problem | None:
    """Integer fields of the body model (ids such as `turn_id`) are looked up in 32-bit columns."""
    model = body_field.field_info.annotation
    fields = getattr(model, "model_fields", None)
    if not fields or not isinstance(body, dict):
        return None
    for name, info in fields.items():
        key = info.alias or name
        value = body.get(key)
        if _is_int(info.annotation) and isinstance(value, int) and not isinstance(value, bool) \
                and not INT32_MIN <= value <= INT32_MAX:
            return Problem(("body", key), f"must be between {INT32_MIN} and {INT32_MAX}; no id is larger.",
                           "int_out_of_range")
    return None
