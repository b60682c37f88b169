"""What every request is checked for before anything is written: input both databases store the same way.

SQLite and PostgreSQL disagree on some values: PostgreSQL refuses NUL characters in text and `NaN`/`Infinity`
in JSON, its INTEGER stops at 2^31 where SQLite's stops at 2^63, and neither encodes a lone UTF-16
surrogate. So that a message is taken or refused the same way on both (and never with a 500 halfway
through a write), one app-wide dependency (bot/request_checks.py) refuses such input with a 422 in FastAPI's
own error shape, and the raw-body webhooks and the socket.io channel call the same functions here.
"""

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError

JSON_INT_LIMIT = 2**53 - 1  # any JSON number but ids (I-JSON, RFC 7493): exact in every client and database
MAX_DEPTH = 32  # platform events nest ~10 deep; 100,000 levels would exhaust the parser's stack
MAX_METADATA_DEPTH = 5
MAX_METADATA_KEYS = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Problem:
    """Why a value cannot be taken, in the shape of one FastAPI validation error."""

    loc: tuple[str | int, ...]
    msg: str
    type: str

    def as_error(self) -> dict[str, Any]:
        return {"type": self.type, "loc": list(self.loc), "msg": self.msg}


class InputRefused(ValueError):
    def __init__(self, problem: Problem):
        super().__init__(problem.msg)
        self.problem = problem


def refused(problem: Problem) -> RequestValidationError:
    return RequestValidationError([problem.as_error()])


def text_problem(text: str, loc: tuple[str | int, ...]) -> Problem | None:
    if "\x00" in text:
        return Problem(loc, "contains a NUL character (\\u0000); remove it.", "string_nul")
    if _SURROGATE.search(text):
        return Problem(loc, "contains a lone UTF-16 surrogate (e.g. \\ud800), which is not text; send valid "
                            "Unicode.", "string_unicode")
    return None


def value_problem(value: Any, loc: tuple[str | int, ...] = ("body",), max_depth: int = MAX_DEPTH) -> Problem | None:
    """The first thing in a parsed JSON value that a database cannot store alike, or None."""
    for item, where, depth in _walk(value, loc):
        if depth > max_depth:
            return Problem(where, f"is nested more than {max_depth} levels deep; flatten it.", "too_deep")
        if isinstance(item, str):
            if problem := text_problem(item, where):
                return problem
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int) and abs(item) > JSON_INT_LIMIT:
            return Problem(where, f"is outside ±{JSON_INT_LIMIT} (2^53 - 1), the largest integer every client "
                                  "and database keeps exactly.", "int_out_of_range")
        elif isinstance(item, float) and not math.isfinite(item):
            return Problem(where, "is not a finite number (NaN, Infinity or out of range like 1e400).",
                           "float_not_finite")
    return None


def _walk(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[Any, tuple[str | int, ...], int]]:
    # Iterative, so that no depth of nesting can exhaust the stack here.
    stack = [(value, loc, 0)]
    while stack:
        item, where, depth = stack.pop()
        yield item, where, depth
        if depth > MAX_DEPTH:
            continue
        if isinstance(item, dict):
            for key, child in item.items():
                yield key, (*where, str(key)), depth + 1
                stack.append((child, (*where, str(key)), depth + 1))
        elif isinstance(item, list):
            stack.extend((child, (*where, index), depth + 1) for index, child in enumerate(item))


def loads(raw: str | bytes) -> Any:
    """`json.loads` that refuses `NaN`/`Infinity` and nesting too deep to parse, as `InputRefused`."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InputRefused(Problem(("body",), f"is nested too deeply; at most {MAX_DEPTH} levels are taken.",
                                   "too_deep")) from None


def _refuse_constant(name: str) -> Any:
    raise InputRefused(Problem(("body",), f"contains {name}, which is not JSON; send a finite number or null.",
                               "float_not_finite"))


def checked(value: Any, loc: tuple[str | int, ...] = ("body",)) -> Any:
    if problem := value_problem(value, loc):
        raise InputRefused(problem)
    return value


def check_metadata(metadata: dict[str, Any], max_bytes: int, loc: tuple[str | int, ...]) -> dict[str, Any]:
    """Metadata is stored with every message: bounded in size, depth and keys, or refused (422)."""
    if problem := value_problem(metadata, loc, MAX_METADATA_DEPTH):
        raise InputRefused(problem)
    if _key_count(metadata) > MAX_METADATA_KEYS:
        raise InputRefused(Problem(loc, f"has more than {MAX_METADATA_KEYS} keys; send less.", "too_many_keys"))
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        raise InputRefused(Problem(loc, f"is {size} bytes as JSON; at most {max_bytes} are stored "
                                        "(HELPDESK_MAX_METADATA_BYTES).", "too_large"))
    return metadata


def _key_count(value: Any) -> int:
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            count += len(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count
