"""Schedule data: retention/*.yaml must validate against schemas/retention-schedule.schema.json,
and must not claim more than was verified.

These tests only read files; they need jsonschema (with the format extras) and PyYAML.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).parents[1]
SCHEMA_PATH = ROOT / "schemas" / "retention-schedule.schema.json"
SCHEDULES = {
    "MO": ROOT / "retention" / "missouri.yaml",
    "MN": ROOT / "retention" / "minnesota.yaml",
}
PLACEHOLDER_PREFIX = "UNVERIFIED-"
COMPUTABLE_RULES = {"period", "permanent", "event", "until_superseded"}


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_schedule(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(validator: Draft202012Validator, doc: dict) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def semantic_problems(doc: dict) -> list[str]:
    """Checks JSON Schema cannot express (or that we want to state twice, plainly)."""
    problems: list[str] = []
    seen: set[str] = set()
    for i, series in enumerate(doc.get("series", [])):
        code = series.get("code", f"<series {i}>")
        if code in seen:
            problems.append(f"duplicate code {code!r}")
        seen.add(code)
        if not any(src.get("url") for src in series.get("sources", [])):
            problems.append(f"{code}: no source with a URL")
        if series.get("verified") is True:
            if code.startswith(PLACEHOLDER_PREFIX):
                problems.append(f"{code}: verified but the code is a placeholder")
            rule = set(series.get("retention", {}))
            if not rule & COMPUTABLE_RULES or "not_verified" in rule:
                problems.append(f"{code}: verified but has no period/permanent rule")
        if code.startswith(PLACEHOLDER_PREFIX) and series.get("verified") is not False:
            problems.append(f"{code}: placeholder code must be verified: false")
    return problems


# --- the real schedule files -------------------------------------------------------------------


def test_schema_is_a_valid_draft_2020_12_schema():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_schedule_validates_against_schema(validator, jurisdiction):
    doc = load_schedule(SCHEDULES[jurisdiction])
    assert schema_errors(validator, doc) == []
    assert doc["jurisdiction"] == jurisdiction


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_codes_are_unique(jurisdiction):
    codes = [s["code"] for s in load_schedule(SCHEDULES[jurisdiction])["series"]]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert duplicates == []


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_every_series_has_a_source_with_url(jurisdiction):
    doc = load_schedule(SCHEDULES[jurisdiction])
    missing = [s["code"] for s in doc["series"] if not any(src.get("url") for src in s["sources"])]
    assert missing == []


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_verified_series_have_real_code_and_rule(jurisdiction):
    doc = load_schedule(SCHEDULES[jurisdiction])
    for series in doc["series"]:
        if series["verified"]:
            assert not series["code"].startswith(PLACEHOLDER_PREFIX), series["code"]
            assert set(series["retention"]) & COMPUTABLE_RULES, series["code"]
            assert "not_verified" not in series["retention"], series["code"]
        if series["code"].startswith(PLACEHOLDER_PREFIX):
            assert series["verified"] is False, series["code"]


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_semantic_checks_pass(jurisdiction):
    assert semantic_problems(load_schedule(SCHEDULES[jurisdiction])) == []


@pytest.mark.parametrize("jurisdiction", sorted(SCHEDULES))
def test_dates_stay_strings_after_yaml_load(jurisdiction):
    # An unquoted YAML date loads as datetime.date and would silently stop being JSON.
    doc = load_schedule(SCHEDULES[jurisdiction])
    assert isinstance(doc["retrieved"], str)


# --- deliberately broken schedules are rejected ------------------------------------------------


def _base() -> dict:
    return load_schedule(SCHEDULES["MN"])


def _verified_index(doc: dict) -> int:
    return next(i for i, s in enumerate(doc["series"]) if s["verified"])


def _unverified_index(doc: dict) -> int:
    return next(i for i, s in enumerate(doc["series"]) if not s["verified"])


def _drop_sources(doc):
    del doc["series"][0]["sources"]


def _empty_sources(doc):
    doc["series"][0]["sources"] = []


def _unknown_trigger(doc):
    doc["series"][0]["trigger"] = "when_posted"


def _unknown_disposition(doc):
    doc["series"][0]["disposition"] = "shred"


def _unknown_record_kind(doc):
    doc["series"][0]["applies_to"] = ["tweet"]


def _extra_series_field(doc):
    doc["series"][0]["confirmed_by_city"] = True


def _extra_top_level_field(doc):
    doc["owner"] = "someone"


def _bad_jurisdiction(doc):
    doc["jurisdiction"] = "IA"


def _bad_date(doc):
    doc["retrieved"] = "2024-13-45"


def _bad_url(doc):
    doc["series"][0]["sources"][0]["url"] = "https://exa mple.org/a b"


def _two_units_in_period(doc):
    doc["series"][_verified_index(doc)]["retention"] = {"period": {"years": 2, "months": 6}}


def _two_rules(doc):
    doc["series"][_verified_index(doc)]["retention"] = {"period": {"years": 2}, "permanent": True}


def _zero_period(doc):
    doc["series"][_verified_index(doc)]["retention"] = {"period": {"years": 0}}


def _verified_placeholder_code(doc):
    doc["series"][_unverified_index(doc)]["verified"] = True


def _verified_without_period(doc):
    i = _verified_index(doc)
    doc["series"][i]["retention"] = {"not_verified": True}
    doc["series"][i]["trigger"] = "not_verified"
    doc["series"][i]["disposition"] = "review"


def _unverified_period_but_destroy(doc):
    i = _unverified_index(doc)
    doc["series"][i]["retention"] = {"not_verified": True}
    doc["series"][i]["trigger"] = "not_verified"
    doc["series"][i]["disposition"] = "destroy"


def _permanent_but_destroy(doc):
    i = _verified_index(doc)
    doc["series"][i]["retention"] = {"permanent": True}
    doc["series"][i]["disposition"] = "destroy"


def _event_rule_without_event_trigger(doc):
    i = _verified_index(doc)
    doc["series"][i]["retention"] = {"event": "action completed", "then": {"years": 1}}
    doc["series"][i]["trigger"] = "creation"


def _missing_verification_note(doc):
    del doc["series"][0]["verification_note"]


def _invented_looking_code(doc):
    doc["series"][0]["code"] = "gs-123 maybe"


# case -> (mutation, a fragment the schema error must contain, so each case fails for its own reason)
BROKEN = {
    "series without sources": (_drop_sources, "'sources' is a required property"),
    "series with empty sources": (_empty_sources, "should be non-empty"),
    "unknown trigger": (_unknown_trigger, "'when_posted' is not one of"),
    "unknown disposition": (_unknown_disposition, "'shred' is not one of"),
    "unknown record kind": (_unknown_record_kind, "'tweet' is not one of"),
    "confirmed_by_city in the state file": (_extra_series_field, "'confirmed_by_city' was unexpected"),
    "unknown top-level key": (_extra_top_level_field, "'owner' was unexpected"),
    "jurisdiction other than MO/MN": (_bad_jurisdiction, "'IA' is not one of"),
    "impossible retrieved date": (_bad_date, "is not a 'date'"),
    "malformed source URL": (_bad_url, "is not a 'uri'"),
    "period with two units": (_two_units_in_period, "retention:"),
    "two retention rules at once": (_two_rules, "retention:"),
    "zero-length period": (_zero_period, "retention:"),
    "placeholder code marked verified": (_verified_placeholder_code, "False was expected"),
    "verified series without a period": (_verified_without_period, "retention:"),
    "unverified period with destroy": (_unverified_period_but_destroy, "'review' was expected"),
    "permanent with destroy": (_permanent_but_destroy, "disposition:"),
    "event rule without event trigger": (_event_rule_without_event_trigger, "'event' was expected"),
    "missing verification_note": (_missing_verification_note, "'verification_note' is a required property"),
    "malformed code": (_invented_looking_code, "code: 'gs-123 maybe' does not match"),
}


def test_base_document_for_broken_cases_is_valid(validator):
    assert schema_errors(validator, _base()) == []


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_schedule_is_rejected(validator, case):
    mutate, expected = BROKEN[case]
    doc = copy.deepcopy(_base())
    mutate(doc)
    errors = schema_errors(validator, doc)
    assert errors, f"schema accepted a schedule with: {case}"
    assert any(expected in e for e in errors), errors


def test_semantic_checks_catch_duplicates_and_missing_urls():
    doc = copy.deepcopy(_base())
    doc["series"].append(copy.deepcopy(doc["series"][0]))
    for src in doc["series"][1]["sources"]:
        src.pop("url", None)
    problems = semantic_problems(doc)
    assert any(p.startswith("duplicate code") for p in problems)
    assert any("no source with a URL" in p for p in problems)


def test_semantic_checks_catch_verified_placeholder():
    doc = copy.deepcopy(_base())
    doc["series"][_unverified_index(doc)]["verified"] = True
    assert any("placeholder" in p for p in semantic_problems(doc))
