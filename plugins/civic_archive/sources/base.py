"""What every platform connector provides: a walk over the account that yields items, and a direct lookup.

A connector reads only what the recording session hands it (redacted, already in the WARC). It yields
`Item`s for good payloads and `Invalid` for payloads it cannot read, so the harvest can quarantine them with
their WARC evidence instead of dropping them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from civic_archive.capture import Capture, RecordingSession
from civic_archive.config import Account
from civic_archive.records import Item
from civic_archive.warc import WarcRef


class ApiError(Exception):
    """The platform answered with an error the connector cannot get past."""

    def __init__(self, message: str, *, code: Any = None, transient: bool = False, ref: WarcRef | None = None):
        super().__init__(message)
        self.code = code
        self.transient = transient
        self.ref = ref


class TokenExpired(ApiError):
    """The account's credentials are invalid or expired: that account stops, the others go on."""


@dataclass
class Invalid:
    """A payload (or part of one) that does not make a valid item."""

    reason: str
    payload: Any
    ref: WarcRef


class Source(ABC):
    platform: str

    def __init__(self, account: Account, session: RecordingSession):
        self.account = account
        self.session = session
        self.complete = False  # set when the walk listed everything, so absence means removal

    @abstractmethod
    def walk(self) -> Iterator[Item | Invalid]:
        """Every item of the account: posts, their comments and replies, media."""

    def exists(self, kind: str, platform_id: str) -> bool | None:
        """Direct lookup: True if the item still exists, False if the platform says it does not, None if
        the answer is not conclusive."""
        return None

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Capture, Any]:
        cap = self.session.get(url, params)
        try:
            return cap, cap.json()
        except ValueError:
            raise ApiError(f"{self.platform}: response to {cap.url} is not JSON (HTTP {cap.status}, "
                           f"{cap.content_type or 'no content type'})", ref=cap.ref) from None


def parse_time(value: Any) -> datetime:
    """ISO 8601 / RFC 3339 timestamps as the platforms send them (`+0000`, `Z`, fractional seconds)."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"missing or non-text timestamp {value!r}")
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {value!r}")
    return dt.astimezone(timezone.utc)
