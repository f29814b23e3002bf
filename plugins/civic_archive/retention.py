"""Retention: which schedule series governs a record, and when it becomes eligible for disposition.

Three inputs decide it:

- the state's **schedule** (`retention/missouri.yaml` or `retention/minnesota.yaml`, or the file the city config
  names in `retention.schedule`), validated against `schemas/retention-schedule.schema.json`;
- the city config's **mapping**: an account's own `series` overrides (record kind -> code) first, then the
  `retention.mapping` rules (first match on kind, role, platform, account), then built-in defaults that map
  everything to the jurisdiction's catch-all social-media series (all of them unverified);
- the city records officer's **confirmation** of each series (`retention.confirmations`: who, when, the
  clock start where the schedule does not state it, and optionally the period they read).

A series is *purgeable* only when all of these hold: it is on the schedule, the schedule marks it verified,
the city confirmed it, its retention is a fixed period from a datable clock start (creation, end of the
calendar year, end of the fiscal year), and its disposition is `destroy`. Anything else (unverified,
unconfirmed, permanent, event-based, until superseded, transfer, review, not on the schedule) is kept: such a
record carries no `eligible_on` and can never be purged.

Eligibility runs from `created_at` (UTC, which is never earlier than the city's local date in the US), so
removal, hiding or editing never restarts or ends the clock. Dates are conservative by construction:

- clock start `creation`: the day after the anniversary (created 2024-05-03 + 2 years -> eligible 2026-05-04);
- `end_of_calendar_year`: the clock starts on 1 January after creation (created in 2024, 2 years -> 2027-01-01);
- `end_of_fiscal_year`: the day after the fiscal year's last day, plus the period;
- adding years or months to a day the target month lacks (29 February, 31st) moves to the 1st of the next month.
"""
from __future__ import annotations

import calendar
import functools
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import yaml

from civic_archive import schemas
from civic_archive.config import yaml_error_text
from civic_archive.resources import data_dir

SCHEDULE_SCHEMA = "retention-schedule.schema.json"
SHIPPED = {"MO": "missouri.yaml", "MN": "minnesota.yaml"}
CLOCK_STARTS = ("creation", "end_of_calendar_year", "end_of_fiscal_year")
UNITS = ("years", "months", "days")

# Built-in mapping used when neither the account's overrides nor the city's rules name a series: the
# jurisdiction's catch-all series for social-media content. Every one of them is unverified in the shipped
# schedules, so the defaults alone never make anything purgeable.
DEFAULT_MAPPING: dict[str, tuple[tuple[dict[str, tuple[str, ...]], str], ...]] = {
    "MO": (
        ({"roles": ("elected_official",)}, "UNVERIFIED-elected-officials-social-media"),
        ({"kinds": ("comment", "reply")}, "UNVERIFIED-public-comments"),
        ({}, "UNVERIFIED-social-media-content"),
    ),
    "MN": (
        ({}, "UNVERIFIED-admin-website-social-media-content"),
    ),
}


class RetentionError(ValueError):
    """A schedule file is missing, invalid, or does not fit the city config."""


# -- the schedule ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    code: str
    title: str
    description: str
    applies_to: tuple[str, ...]
    retention: dict[str, Any]
    trigger: str
    disposition: str
    verified: bool
    verification_note: str
    sources: tuple[dict[str, Any], ...]
    schedule_edition: str | None = None

    @property
    def rule(self) -> str:
        for name in ("period", "permanent", "event", "until_superseded", "not_verified"):
            if name in self.retention:
                return name
        return "not_verified"

    @property
    def period(self) -> dict[str, int] | None:
        return dict(self.retention["period"]) if self.rule == "period" else None


@dataclass(frozen=True)
class Schedule:
    jurisdiction: str
    title: str
    retrieved: str
    path: str
    sha256: str
    series: dict[str, Series]
    schedule_sources: tuple[dict[str, Any], ...] = ()

    def get(self, code: str | None) -> Series | None:
        return self.series.get(code) if code else None

    def describe(self) -> dict[str, Any]:
        """What a disposition record says about the schedule it relied on."""
        return {"jurisdiction": self.jurisdiction, "title": self.title, "retrieved": self.retrieved,
                "file": os.path.basename(self.path), "sha256": self.sha256}


_schedule_cache: dict[tuple[str, int, int], Schedule] = {}
_schedule_lock = threading.Lock()


def schedule_path(jurisdiction: str, override: str | os.PathLike | None = None) -> Path:
    if override:
        return Path(override)
    try:
        return data_dir("retention") / SHIPPED[jurisdiction]
    except KeyError:
        raise RetentionError(f"no retention schedule for jurisdiction {jurisdiction!r}") from None


def load_schedule(jurisdiction: str | None = None, path: str | os.PathLike | None = None) -> Schedule:
    """The schedule for `jurisdiction` (shipped file) or at `path`, validated; cached while the file is unchanged."""
    if jurisdiction is None and path is None:
        raise RetentionError("load_schedule needs a jurisdiction or a path")
    p = schedule_path(jurisdiction or "", path) if path else schedule_path(jurisdiction)
    try:
        st = p.stat()
    except OSError as exc:
        raise RetentionError(f"cannot read retention schedule {p}: {exc.strerror}") from None
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    with _schedule_lock:
        cached = _schedule_cache.get(key)
    if cached is not None:
        if jurisdiction and cached.jurisdiction != jurisdiction:
            raise RetentionError(f"schedule {p} is for {cached.jurisdiction}, the city is in {jurisdiction}")
        return cached
    raw = p.read_bytes()
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise RetentionError(f"retention schedule {p} is not valid YAML: {yaml_error_text(exc)}") from None
    found = schemas.errors(SCHEDULE_SCHEMA, doc)
    if found:
        raise RetentionError(f"retention schedule {p} does not match {SCHEDULE_SCHEMA}: " + "; ".join(found[:5]))
    series: dict[str, Series] = {}
    for s in doc["series"]:
        if s["code"] in series:
            raise RetentionError(f"retention schedule {p}: series {s['code']!r} appears twice")
        series[s["code"]] = Series(
            code=s["code"], title=s["title"], description=s["description"], applies_to=tuple(s["applies_to"]),
            retention=s["retention"], trigger=s["trigger"], disposition=s["disposition"], verified=s["verified"],
            verification_note=s["verification_note"], sources=tuple(s["sources"]),
            schedule_edition=s.get("schedule_edition"))
    schedule = Schedule(jurisdiction=doc["jurisdiction"], title=" ".join(doc["title"].split()),
                        retrieved=doc["retrieved"], path=str(p), sha256=hashlib.sha256(raw).hexdigest(),
                        series=series, schedule_sources=tuple(doc.get("schedule_sources", ())))
    if jurisdiction and schedule.jurisdiction != jurisdiction:
        raise RetentionError(f"schedule {p} is for {schedule.jurisdiction}, the city is in {jurisdiction}")
    with _schedule_lock:
        _schedule_cache[key] = schedule
    return schedule


# -- date arithmetic ------------------------------------------------------------------------------------------


def _add_months(d: date, months: int) -> date:
    """Same day `months` later; a day the target month lacks moves to the 1st of the month after."""
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    last = calendar.monthrange(year, month)[1]
    if d.day <= last:
        return date(year, month, d.day)
    return date(year, month, last) + timedelta(days=1)


def add_duration(d: date, duration: dict[str, int]) -> date:
    (unit, n), = duration.items()
    if unit == "years":
        return _add_months(d, 12 * n)
    if unit == "months":
        return _add_months(d, n)
    if unit == "days":
        return d + timedelta(days=n)
    raise RetentionError(f"unknown duration unit {unit!r}")


def duration_text(duration: dict[str, int]) -> str:
    (unit, n), = duration.items()
    return f"{n} {unit[:-1] if n == 1 else unit}"


def clock_start_date(created: date, clock_start: str, fiscal_year_end: str | None = None) -> date:
    """The first day after the clock started running."""
    if clock_start == "creation":
        return created + timedelta(days=1)
    if clock_start == "end_of_calendar_year":
        return date(created.year + 1, 1, 1)
    if clock_start == "end_of_fiscal_year":
        if not fiscal_year_end:
            raise RetentionError("clock start end_of_fiscal_year needs retention.fiscal_year_end (MM-DD)")
        month, day = (int(x) for x in fiscal_year_end.split("-"))
        end = _fy_end(created.year, month, day)
        if end < created:
            end = _fy_end(created.year + 1, month, day)
        return end + timedelta(days=1)
    raise RetentionError(f"clock start {clock_start!r} cannot be dated")


def _fy_end(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def eligible_date(created: date, period: dict[str, int], clock_start: str,
                  fiscal_year_end: str | None = None) -> date:
    """The first day a record created on `created` (UTC date) may be destroyed."""
    return add_duration(clock_start_date(created, clock_start, fiscal_year_end), period)


def created_date(value: Any) -> date:
    """The UTC date of a created_at value (RFC 3339 string, aware datetime, or date)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise RetentionError("naive created_at")
        return value.astimezone(timezone.utc).date()
    if isinstance(value, date):
        return value
    text = str(value)
    if text.endswith("Z") and len(text) >= 10 and text[4] == "-" and text[7] == "-":
        return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc).date()


# -- the city's policy: mapping + confirmations -----------------------------------------------------------------


@dataclass(frozen=True)
class SeriesStatus:
    """Whether records under a series may ever be purged, and when; `reasons` says why not."""
    code: str | None
    series: Series | None
    confirmation: Any  # config.Confirmation | None
    clock_start: str | None
    period: dict[str, int] | None
    fiscal_year_end: str | None
    reasons: tuple[str, ...] = ()

    @property
    def purgeable(self) -> bool:
        return not self.reasons

    def eligible_on(self, created: Any) -> date | None:
        if not self.purgeable:
            return None
        return eligible_date(created_date(created), self.period, self.clock_start, self.fiscal_year_end)

    @property
    def retention_text(self) -> str:
        """The retention_period column: what the schedule says, and whether it can run."""
        s = self.series
        if s is None:
            return "no series" if self.code is None else "series not on the schedule"
        rule = s.rule
        if rule == "permanent":
            return "permanent"
        if rule == "not_verified":
            return "not verified"
        if rule == "event":
            return f"{duration_text(s.retention['then'])} after: {s.retention['event']}"
        if rule == "until_superseded":
            then = s.retention.get("then")
            return "until superseded" + (f" + {duration_text(then)}" if then else "")
        text = duration_text(s.retention["period"])
        if self.clock_start:
            return f"{text} from {self.clock_start.replace('_', ' ')}"
        return f"{text} (clock start not verified)"

    def citation(self) -> dict[str, Any]:
        s = self.series
        if s is None:
            return {"code": self.code}
        conf = self.confirmation
        return {
            "code": s.code, "title": s.title, "retention": self.retention_text,
            "schedule_edition": s.schedule_edition, "disposition": s.disposition,
            "sources": [{k: v for k, v in src.items() if k in ("title", "url", "section", "kind")}
                        for src in s.sources],
            **({"confirmed_by": conf.confirmed_by, "confirmed_on": conf.confirmed_on} if conf else {}),
        }


ROLES = frozenset({"department", "elected_official", "city_administrator", "library"})


def applies(series: Series, account, kind: str) -> bool:
    """Whether a series' `applies_to` admits a record of `kind` from `account`: its kinds, if it lists any
    (a YouTube video is the account's post), and its roles, if it lists any and not `any`."""
    listed = set(series.applies_to)
    kinds, roles = listed - ROLES - {"any"}, listed & ROLES
    if kinds and ("post" if kind == "video" else kind) not in kinds:
        return False
    return not roles or "any" in listed or account.role in roles


def _matches(rule: dict[str, Any], account, kind: str) -> bool:
    for attr, value in (("kinds", kind), ("roles", account.role), ("platforms", account.platform),
                        ("accounts", account.id)):
        allowed = rule.get(attr) if isinstance(rule, dict) else getattr(rule, attr)
        if allowed and value not in allowed:
            return False
    return True


class RetentionPolicy:
    """The retention policy of one city config: its schedule, mapping and confirmations."""

    def __init__(self, config, *, schedule_path: str | os.PathLike | None = None, today: date | None = None):
        self.config = config
        settings = getattr(config, "retention", None)
        self.settings = settings
        override = schedule_path or (settings.schedule if settings else None)
        self.schedule = load_schedule(config.jurisdiction, override)
        self.today = today or datetime.now(timezone.utc).date()
        self.approvers = tuple(settings.approvers) if settings else ()
        self.approver_logins = dict(settings.approver_logins) if settings else {}
        self.approver_airflow_users = dict(settings.approver_airflow_users) if settings else {}
        self.two_person_rule = bool(settings.two_person_rule) if settings else False
        self._status: dict[str | None, SeriesStatus] = {}
        self._series_for: dict[tuple[str, str], str | None] = {}
        self._classified: dict[tuple[str | None, date | None], dict[str, Any]] = {}
        self._lock = threading.Lock()
        confirmations: dict[str, list] = {}
        for conf in (settings.confirmations if settings else ()):
            confirmations.setdefault(conf.series, []).append(conf)
        self._confirmations = confirmations

    # mapping
    def series_for(self, account, kind: str) -> str | None:
        key = (account.id, kind)
        if key in self._series_for:
            return self._series_for[key]
        # The account's override for the kind, then for any kind, then the city's rules, then the defaults;
        # the first whose series admits the record (`applies_to`): a rule or override naming a series the
        # schedule limits to other kinds or roles does not file other records under it.
        overrides = account.series or {}
        chosen = [overrides[k] for k in (kind, "any") if k in overrides]
        chosen += [rule.series for rule in (self.settings.mapping if self.settings else ())
                   if _matches(rule, account, kind)]
        chosen += [default for rule, default in DEFAULT_MAPPING.get(self.config.jurisdiction, ())
                   if _matches(rule, account, kind) and default in self.schedule.series]
        code = None
        for candidate in chosen:
            series = self.schedule.series.get(candidate)
            if series is None or applies(series, account, kind):
                code = candidate
                break
            _warn_once(f"{candidate} applies to {', '.join(series.applies_to)}, not to a {kind} of account "
                       f"{account.id} (role {account.role}): that record is filed under the next match")
        self._series_for[key] = code
        return code

    # confirmation
    def status(self, code: str | None) -> SeriesStatus:
        cached = self._status.get(code)
        if cached is None:
            cached = self._status[code] = self._compute_status(code)
        return cached

    def _compute_status(self, code: str | None) -> SeriesStatus:
        fye = self.settings.fiscal_year_end if self.settings else None
        if code is None:
            return SeriesStatus(None, None, None, None, None, fye, ("the record has no series",))
        series = self.schedule.get(code)
        confs = self._confirmations.get(code, [])
        conf = confs[0] if len(confs) == 1 else None
        reasons: list[str] = []
        if series is None:
            return SeriesStatus(code, None, conf, None, None, fye,
                                (f"series {code} is not on the schedule ({os.path.basename(self.schedule.path)})",))
        if not series.verified:
            reasons.append(f"the schedule marks {code} unverified")
        if len(confs) > 1:
            reasons.append(f"{code} is confirmed {len(confs)} times in the city config (ambiguous)")
        elif conf is None:
            reasons.append(f"{code} is not confirmed by the city's records officer (retention.confirmations)")
        elif conf.confirmed_on > self.today.isoformat():
            reasons.append(f"the confirmation of {code} is dated {conf.confirmed_on}, in the future")
        rule = series.rule
        clock = None
        period = series.period
        if rule == "permanent":
            reasons.append(f"{code} is permanent")
        elif rule == "not_verified":
            reasons.append(f"the retention period of {code} is not verified")
        elif rule == "event":
            reasons.append(f"{code} runs from an event the archive cannot date ({series.retention['event']})")
        elif rule == "until_superseded":
            reasons.append(f"{code} is kept until superseded, which the archive cannot date")
        if series.disposition != "destroy":
            reasons.append(f"the disposition of {code} is {series.disposition}, not destroy")
        if rule == "period":
            if series.trigger in CLOCK_STARTS:
                clock = series.trigger
                if conf is not None and conf.clock_start and conf.clock_start != clock:
                    reasons.append(f"the confirmation's clock start ({conf.clock_start}) disagrees with the "
                                   f"schedule's ({clock})")
            elif series.trigger == "not_verified":
                if conf is not None and conf.clock_start:
                    clock = conf.clock_start  # what the city read where the schedule's text was not verified
                else:
                    reasons.append(f"the clock start of {code} is not verified and the confirmation does not "
                                   "state it")
            else:  # e.g. superseded, event: stated by the schedule, so no confirmation can replace it
                reasons.append(f"the clock start of {code} ({series.trigger}) cannot be dated"
                               + (f"; the confirmation's clock start ({conf.clock_start}) cannot replace the "
                                  "schedule's" if conf is not None and conf.clock_start else ""))
            if clock == "end_of_fiscal_year" and not fye:
                reasons.append("the clock starts at the end of the fiscal year but retention.fiscal_year_end is not set")
            if conf is not None and conf.period and dict(conf.period) != period:
                reasons.append(f"the confirmed period ({duration_text(conf.period)}) differs from the schedule's "
                               f"({duration_text(period)})")
            if conf is not None and conf.schedule_edition and conf.schedule_edition != series.schedule_edition:
                reasons.append(f"the confirmation read the {conf.schedule_edition!r} edition; the schedule now "
                               f"gives {series.schedule_edition!r} for {code}: confirm it again")
        return SeriesStatus(code, series, conf, clock, period, fye, tuple(reasons))

    def statuses(self, codes: Iterable[str | None]) -> dict[str | None, SeriesStatus]:
        return {c: self.status(c) for c in codes}

    def classify(self, account, row: dict[str, Any]) -> dict[str, Any]:
        code = self.series_for(account, row["kind"])
        status = self.status(code)
        created = created_date(row["created_at"]) if status.purgeable else None
        # The answer depends on the series and the day of creation only: kept per (series, day), as a harvest
        # classifies many records of one series a day (the retention text alone is rebuilt on every call).
        key = (code, created)
        answer = self._classified.get(key)
        if answer is None:
            eligible = status.eligible_on(created) if status.purgeable else None
            answer = {"series_code": code, "retention_period": status.retention_text,
                      "eligible_on": eligible.isoformat() if eligible else None}
            if len(self._classified) >= 65536:
                self._classified.clear()
            self._classified[key] = answer
        return dict(answer)


_policies: dict[int, tuple[Any, RetentionPolicy, float]] = {}
_policies_lock = threading.Lock()
RECHECK_SECONDS = 2.0  # how often a cached policy looks at its schedule file's mtime and the date


def policy_for(config) -> RetentionPolicy:
    """The (cached) policy of a config object, rebuilt when its schedule file changes or the day turns."""
    now = time.monotonic()
    with _policies_lock:
        hit = _policies.get(id(config))
    if hit is not None and hit[0] is config:
        policy, checked = hit[1], hit[2]
        if now - checked < RECHECK_SECONDS:
            return policy
        try:
            same = load_schedule(config.jurisdiction, policy.schedule.path) is policy.schedule
        except RetentionError:
            same = False
        if same and policy.today == datetime.now(timezone.utc).date():
            with _policies_lock:
                _policies[id(config)] = (config, policy, now)
            return policy
    policy = RetentionPolicy(config)
    with _policies_lock:
        if len(_policies) > 32:
            _policies.clear()
        _policies[id(config)] = (config, policy, now)
    return policy


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)


def classify(config, account, row: dict[str, Any]) -> dict[str, Any]:
    """Series code, retention period (text) and eligibility date (ISO, or None: never purgeable as things
    stand) for a record row. Uses the row's `kind` and `created_at` and the account's role and overrides.

    A schedule that cannot be loaded never stops a harvest (the content may be gone tomorrow): the record is
    archived without a series, which keeps it out of every disposition, and the problem is logged."""
    try:
        return policy_for(config).classify(account, row)
    except RetentionError as exc:
        message = str(exc)
        if message not in _warned:
            _warned.add(message)
            logging.getLogger(__name__).error("records archived without a retention series: %s", message)
        return {"series_code": None, "retention_period": f"schedule unavailable: {message}"[:300],
                "eligible_on": None}


@functools.lru_cache(maxsize=1024)  # called per record; a city has a handful of series
def partition_value(series_code: str | None) -> str:
    """A key-safe form of the series code for the records/ partition path."""
    if not series_code:
        return "unclassified"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", series_code)


def object_retain_until(eligible_dates: Iterable[date | str | None]) -> datetime | None:
    """An S3 Object Lock retain-until for an object holding records with these eligibility dates: the latest
    of them (start of that day, UTC), or None (use the store's default lock) when any is unknown."""
    latest: date | None = None
    seen = False
    for d in eligible_dates:
        seen = True
        if d is None:
            return None
        d = date.fromisoformat(d) if isinstance(d, str) else d
        latest = d if latest is None or d > latest else latest
    if not seen or latest is None:
        return None
    return datetime(latest.year, latest.month, latest.day, tzinfo=timezone.utc)


__all__ = [
    "Series", "Schedule", "SeriesStatus", "RetentionPolicy", "RetentionError", "load_schedule", "classify",
    "policy_for", "partition_value", "eligible_date", "add_duration", "created_date", "object_retain_until",
    "DEFAULT_MAPPING", "CLOCK_STARTS",
]
