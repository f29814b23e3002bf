"""The city configuration: which accounts to harvest, where the archive lives, which state's schedule applies.

Secrets never appear in it: `credentials` names an environment variable (`env:VAR`) or an Airflow Connection
(`airflow:CONN_ID`) and is resolved only when a harvest starts.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from civic_archive import redaction, schemas

CONFIG_SCHEMA = "city-config.schema.json"

DEFAULT_API_BASE = {
    "facebook": "https://graph.facebook.com/v21.0",
    "instagram": "https://graph.facebook.com/v21.0",
    "x": "https://api.x.com/2",
    "youtube": "https://www.googleapis.com/youtube/v3",
}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Account:
    id: str
    platform: str
    handle: str
    credentials: str
    api_base_url: str
    role: str = "department"
    app_secret: str | None = None
    series: dict[str, str] = field(default_factory=dict)
    media_max_bytes: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class Confirmation:
    """The records officer's confirmation of one series: who, when, and what was confirmed."""
    series: str
    confirmed_by: str
    confirmed_on: str  # YYYY-MM-DD
    clock_start: str | None = None  # creation | end_of_calendar_year | end_of_fiscal_year
    period: dict[str, int] | None = None  # {years|months|days: N}, must agree with the schedule when given
    schedule_edition: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class MappingRule:
    """Records of these kinds / roles / platforms / accounts (each None = any) belong to `series`."""
    series: str
    kinds: tuple[str, ...] | None = None
    roles: tuple[str, ...] | None = None
    platforms: tuple[str, ...] | None = None
    accounts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RetentionSettings:
    """The city config's optional `retention` section. Empty means: nothing is ever disposed of."""
    schedule: str | None = None  # path of a schedule file replacing the shipped one (resolved)
    fiscal_year_end: str | None = None  # MM-DD
    mapping: tuple[MappingRule, ...] = ()
    confirmations: tuple[Confirmation, ...] = ()
    approvers: tuple[str, ...] = ()  # the names that may approve
    # name -> the logins that may record its decision on the command line, and the Airflow users (ids or
    # user names) who are this approver (besides one whose user name is the approver's name)
    approver_logins: tuple[tuple[str, tuple[str, ...]], ...] = ()
    approver_airflow_users: tuple[tuple[str, tuple[str, ...]], ...] = ()
    two_person_rule: bool = False


def _retention_settings(doc: dict | None, source: str | None) -> RetentionSettings:
    if not doc:
        return RetentionSettings()
    schedule = doc.get("schedule")
    if schedule and source and not os.path.isabs(schedule) and os.path.exists(source):
        schedule = str(Path(source).resolve().parent / schedule)
    tup = lambda v: tuple(v) if v else None  # noqa: E731
    return RetentionSettings(
        schedule=schedule, fiscal_year_end=doc.get("fiscal_year_end"),
        mapping=tuple(MappingRule(series=m["series"], kinds=tup(m.get("kinds")), roles=tup(m.get("roles")),
                                  platforms=tup(m.get("platforms")), accounts=tup(m.get("accounts")))
                      for m in doc.get("mapping") or ()),
        confirmations=tuple(Confirmation(**c) for c in doc.get("confirmations") or ()),
        approvers=tuple(a if isinstance(a, str) else a["name"] for a in doc.get("approvers") or ()),
        approver_logins=tuple((a["name"], tuple(a["logins"])) for a in doc.get("approvers") or ()
                              if isinstance(a, dict) and a.get("logins")),
        approver_airflow_users=tuple((a["name"], tuple(map(str, a["airflow_users"])))
                                     for a in doc.get("approvers") or ()
                                     if isinstance(a, dict) and a.get("airflow_users")),
        two_person_rule=bool(doc.get("two_person_rule", False)))


def _retention_dates_as_text(doc: dict) -> None:
    """YAML reads an unquoted 2026-01-31 as a date; the schema wants the ISO text."""
    section = doc.get("retention")
    if isinstance(section, dict):
        for conf in section.get("confirmations") or ():
            if isinstance(conf, dict) and isinstance(conf.get("confirmed_on"), date):
                conf["confirmed_on"] = conf["confirmed_on"].isoformat()


@dataclass(frozen=True)
class CityConfig:
    city: str
    jurisdiction: str
    archive: str
    accounts: tuple[Account, ...]
    operator: str | None = None
    warc_max_bytes: int = 1024 ** 3
    recheck_days: int = 30
    full_sweep_days: int = 7
    full_sweep_below_items: int = 20_000
    source: str | None = None
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    def account(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.id == account_id:
                return account
        raise ConfigError(f"no account {account_id!r} in the city config (have: "
                          f"{', '.join(a.id for a in self.accounts)})")


_LITERAL_SECRET_HINT = re.compile(r"^(?!env:|airflow:).{16,}$")


def parse(doc: Any, source: str | None = None) -> CityConfig:
    where = f" in {source}" if source else ""
    if not isinstance(doc, dict):
        raise ConfigError(f"city config{where} must be a mapping")
    for i, acc in enumerate(doc.get("accounts") or []):
        cred = acc.get("credentials") if isinstance(acc, dict) else None
        if isinstance(cred, str) and _LITERAL_SECRET_HINT.match(cred):
            # Say it plainly, without echoing the value back into logs.
            raise ConfigError(f"accounts[{i}].credentials{where} looks like a literal secret; use env:VAR or "
                              "airflow:CONN_ID so the token never sits in the config")
    _retention_dates_as_text(doc)
    found = schemas.errors(CONFIG_SCHEMA, doc)
    if found:
        raise ConfigError(f"invalid city config{where}: " + "; ".join(found[:5]))
    names = [a if isinstance(a, str) else a["name"] for a in (doc.get("retention") or {}).get("approvers") or ()]
    if len(names) != len(set(names)):
        raise ConfigError(f"retention.approvers{where} names {sorted({n for n in names if names.count(n) > 1})} "
                          "more than once")
    ids = [a["id"] for a in doc["accounts"]]
    if "exports" in ids:  # the manifest chain of the export packages kept in the archive (export.EXPORT_CHAIN)
        raise ConfigError(f"account id 'exports'{where} is reserved (the archive's chain of records-request packages)")
    if len(ids) != len(set(ids)):
        raise ConfigError(f"duplicate account ids{where}: {sorted({i for i in ids if ids.count(i) > 1})}")
    accounts = tuple(
        Account(id=a["id"], platform=a["platform"], handle=a["handle"], credentials=a["credentials"],
                api_base_url=a.get("api_base_url", DEFAULT_API_BASE[a["platform"]]).rstrip("/"),
                role=a.get("role", "department"), app_secret=a.get("app_secret"), series=a.get("series", {}),
                media_max_bytes=a.get("media_max_bytes", 25 * 1024 * 1024))
        for a in doc["accounts"])
    return CityConfig(city=doc["city"], jurisdiction=doc["jurisdiction"], archive=doc["archive"],
                      accounts=accounts, operator=doc.get("operator"),
                      warc_max_bytes=doc.get("warc_max_bytes", 1024 ** 3),
                      recheck_days=(doc.get("harvest") or {}).get("recheck_days", 30),
                      full_sweep_days=(doc.get("harvest") or {}).get("full_sweep_days", 7),
                      full_sweep_below_items=(doc.get("harvest") or {}).get("full_sweep_below_items", 20_000),
                      source=source, retention=_retention_settings(doc.get("retention"), source))


def load(path: str | os.PathLike) -> CityConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read city config {path}: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"city config {path} is not valid YAML: {yaml_error_text(exc)}") from None
    return parse(doc, str(path))


def yaml_error_text(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line message as one line: the problem and where (line, column, counted from 1)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if not problem or mark is None:
        return " ".join(str(exc).split())
    context = getattr(exc, "context", None)
    where = f"at line {mark.line + 1}, column {mark.column + 1}"
    return f"{problem} ({context}) {where}" if context else f"{problem} {where}"


def resolve_secret(ref: str) -> str:
    """`env:VAR` → the variable's value; `airflow:CONN_ID` → the Connection's password (or extra `token`).
    From then on the value is masked in every log record of the process."""
    value = _resolve(ref)
    redaction.mask_in_logs(value)
    return value


def _resolve(ref: str) -> str:
    kind, _, name = ref.partition(":")
    if kind == "env":
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"credentials {ref}: environment variable {name} is not set")
        return value
    if kind == "airflow":
        try:
            from airflow.sdk import BaseHook
        except ImportError:  # pragma: no cover - Airflow is a hard dependency, but keep the message clear
            raise ConfigError(f"credentials {ref}: Airflow is not installed") from None
        try:
            conn = BaseHook.get_connection(name)
        except Exception as exc:  # Airflow raises its own NotFound types; one clear line is what matters
            raise ConfigError(f"credentials {ref}: Airflow connection {name} not found ({type(exc).__name__})") from None
        value = conn.password or (conn.extra_dejson or {}).get("token")
        if not value:
            raise ConfigError(f"credentials {ref}: Airflow connection {name} has no password or extra.token")
        return value
    raise ConfigError(f"credentials {ref!r}: use env:VAR or airflow:CONN_ID")
