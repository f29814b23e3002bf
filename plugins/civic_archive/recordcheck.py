"""Every record row checked against `schemas/record.schema.json`, by a checker compiled from that schema.

The harvest validates each row before it is kept. fastjsonschema took ~20 µs a row (a third of the per-record
cost of a harvest); this compiles the schema into one plain Python function with jsonschema's semantics
(Draft 2020-12 types, where 1.0 is an integer and True is not; `pattern` by `re.search`; the `date-time` and
`date` formats by jsonschema's own format checker), answering the common case — a valid row — in a few µs.
An invalid row gets jsonschema's full error list, so quarantine reasons read as before.

It compiles only the keywords the record schema uses; a schema with any other keyword is not compiled and
rows go to the generic validator (`schemas.fast_errors`) instead. tests/test_recordcheck.py runs both this
and jsonschema over many generated good and bad rows and requires the same verdict on each.
"""
from __future__ import annotations

import json
import numbers
import re
from functools import lru_cache

from jsonschema import Draft202012Validator

from civic_archive import schemas
from civic_archive.resources import data_dir

SCHEMA = "record.schema.json"
_ANNOTATIONS = {"$schema", "$id", "title", "description"}
_TOP = _ANNOTATIONS | {"type", "additionalProperties", "required", "properties"}
_PROPERTY = _ANNOTATIONS | {"type", "enum", "pattern", "minLength", "maxLength", "minimum", "format"}
_TYPES = {  # jsonschema's Draft 2020-12 type checks, as expressions on `v`
    "string": "isinstance(v, str)",
    "null": "v is None",
    "integer": "((isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()))",
}
_FORMATS = Draft202012Validator.FORMAT_CHECKER
# Date-times of the form `records.iso()` writes (UTC, `Z`). On such a string jsonschema's check (rfc3339_validator
# on `value.upper()`, which leaves it unchanged) matches every part after the date, so its verdict depends on the
# first 10 characters alone (month 01-12, year not 0000, day within the month): it is computed once per day.
_PLAIN_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?Z", re.ASCII)


class Unsupported(ValueError):
    """The schema uses a keyword this compiler does not handle."""


def _format_ok(fmt: str):
    """jsonschema's check of one format (`FormatChecker.check`, minus the FormatError), memoized for repeated
    strings (rows share e.g. captured_at). A format jsonschema cannot check (its optional dependency is
    missing) passes, as it does in jsonschema."""
    if fmt not in _FORMATS.checkers:
        return lambda value: True
    func, raises = _FORMATS.checkers[fmt]
    cache: dict[str, bool] = {}
    by_day: dict[str, bool] = {}
    plain = _PLAIN_DATETIME.fullmatch if fmt == "date-time" else None

    def check(value) -> bool:
        try:
            return bool(func(value))
        except raises:
            return False

    def ok(value) -> bool:
        if not isinstance(value, str):
            return check(value)
        answer = cache.get(value)
        if answer is None:
            if plain is not None and plain(value):  # each row's created_at is new, its day seldom (see above)
                day = value[:10]
                answer = by_day.get(day)
                if answer is None:
                    answer = check(value)
                    if len(by_day) < 65536:
                        by_day[day] = answer
            else:
                answer = check(value)
            if len(cache) < 4096:
                cache[value] = answer
        return answer
    return ok


def compile_schema(schema: dict):
    """A function row -> bool (True: valid) equivalent to validating `schema` with jsonschema."""
    if set(schema) - _TOP or schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        raise Unsupported(f"top-level keywords {sorted(set(schema) - _ANNOTATIONS)}")
    env: dict = {"frozenset": frozenset}
    lines = ["def check(row):",
             "    if not isinstance(row, dict) or not _required <= row.keys() or not row.keys() <= _allowed:",
             "        return False"]
    env["_required"] = frozenset(schema.get("required", []))
    env["_allowed"] = frozenset(schema["properties"])
    env["_Number"], env["_MISSING"] = numbers.Number, object()
    required = set(schema.get("required", []))
    for n, (name, prop) in enumerate(schema["properties"].items()):
        if set(prop) - _PROPERTY:
            raise Unsupported(f"{name}: keywords {sorted(set(prop) - _PROPERTY)}")
        # Checks that constrain strings only (cheapest first), and numbers only; each branch below applies
        # them once the value's type is known. Formats pass every non-string in jsonschema too.
        on_str = []
        if "minLength" in prop:
            on_str.append(f"len(v) >= {int(prop['minLength'])}")
        if "maxLength" in prop:
            on_str.append(f"len(v) <= {int(prop['maxLength'])}")
        if "pattern" in prop:
            env[f"_pattern{n}"] = re.compile(prop["pattern"]).search
            on_str.append(f"_pattern{n}(v) is not None")
        if "format" in prop:
            if prop["format"] not in ("date-time", "date"):
                raise Unsupported(f"{name}: format {prop['format']}")
            env[f"_format{n}"] = _format_ok(prop["format"])
            on_str.append(f"_format{n}(v)")
        on_num = [f"not v < {prop['minimum']!r}"] if "minimum" in prop else []  # `not <`: NaN passes, as there
        if "type" in prop:
            types = [prop["type"]] if isinstance(prop["type"], str) else prop["type"]
            if set(types) - set(_TYPES):
                raise Unsupported(f"{name}: types {types}")
            branches = []
            for t in types:
                extra = on_str if t == "string" else on_num if t == "integer" else []
                branches.append(" and ".join([_TYPES[t], *extra]))
            test = " or ".join(f"({b})" for b in branches)
        else:
            test = " and ".join(
                ([f"(not isinstance(v, str) or ({' and '.join(on_str)}))"] if on_str else [])
                + ([f"(isinstance(v, bool) or not isinstance(v, _Number) or ({' and '.join(on_num)}))"]
                   if on_num else []))
        if "enum" in prop:
            if not all(isinstance(e, str) for e in prop["enum"]):
                raise Unsupported(f"{name}: non-string enum")
            env[f"_enum{n}"] = frozenset(prop["enum"])
            enum = f"isinstance(v, str) and v in _enum{n}"  # jsonschema: a string equals only a string
            test = f"({test}) and {enum}" if test else enum
        if not test:
            continue
        if name in required:  # present: the first test of `check` saw to that
            lines += [f"    v = row[{name!r}]", f"    if not ({test}):", "        return False"]
        else:
            lines += [f"    v = row.get({name!r}, _MISSING)",
                      f"    if v is not _MISSING and not ({test}):", "        return False"]
    lines.append("    return True")
    exec(compile("\n".join(lines), f"<{schema.get('$id', 'schema')} checker>", "exec"), env)
    return env["check"]


@lru_cache(maxsize=None)
def _checker():
    try:
        return compile_schema(json.loads((data_dir("schemas") / SCHEMA).read_text()))
    except Unsupported:
        return None


def compiled() -> bool:
    """Whether record rows are checked by the compiled checker (False: the schema outgrew the compiler)."""
    return _checker() is not None


def errors(row) -> list[str]:
    """[] for a valid record row; otherwise jsonschema's error list (as `schemas.fast_errors` gives it)."""
    check = _checker()
    if check is None:
        return schemas.fast_errors(SCHEMA, row)
    if check(row):
        return []
    return schemas.errors(SCHEMA, row) or ["rejected by the compiled record checker"]
