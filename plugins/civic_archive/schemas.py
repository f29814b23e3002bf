"""JSON Schema validation against the files in `schemas/`, with format checks switched on."""
from __future__ import annotations

import json
from functools import lru_cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from civic_archive.resources import data_dir


class SchemaError(ValueError):
    """A document does not match its schema. `errors` lists `path: message` strings."""

    def __init__(self, schema: str, errors: list[str]):
        self.schema = schema
        self.errors = errors
        shown = "; ".join(errors[:5]) + (f"; … {len(errors) - 5} more" if len(errors) > 5 else "")
        super().__init__(f"does not match {schema}: {shown}")


@lru_cache(maxsize=None)
def _registry() -> Registry:
    resources = []
    for path in sorted(data_dir("schemas").glob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc.get("$id", path.name), Resource.from_contents(doc)))
        resources.append((path.name, Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((data_dir("schemas") / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


@lru_cache(maxsize=None)
def _compiled(name: str):
    """The same schema compiled to Python by fastjsonschema (about 20x faster than jsonschema) for the
    per-record hot path. Our record schema uses only keywords draft-07 shares with 2020-12; a property test
    (tests/test_schemas.py) checks that both validators accept and reject the same records."""
    import fastjsonschema

    schema = dict(json.loads((data_dir("schemas") / name).read_text()))
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    return fastjsonschema.compile(schema)


def fast_errors(name: str, document) -> list[str]:
    """Like `errors`, but answers the common case (valid) with the compiled validator; only an invalid
    document pays for jsonschema's full error list."""
    import fastjsonschema

    try:
        _compiled(name)(document)
        return []
    except fastjsonschema.JsonSchemaException:
        return errors(name, document) or ["rejected by the compiled validator"]


def errors(name: str, document) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in sorted(validator(name).iter_errors(document), key=lambda e: e.path)]


def validate(name: str, document) -> None:
    found = errors(name, document)
    if found:
        raise SchemaError(name, found)
