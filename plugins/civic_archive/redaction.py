"""Keeping credentials out of everything the archive stores.

Two nets, because one is not enough:
1. by name: query parameters such as `access_token`, `appsecret_proof`, `key` and headers such as
   `Authorization` get the value `REDACTED` wherever they appear in request URLs, headers and logs. In
   response bodies (the Graph API echoes the token inside every `paging.next` URL, JSON-escaped or not) only
   names that are credentials and nothing else are redacted by name, and only inside URLs on the API's own
   host (the origin of the request): a body also carries the public's own text, where `?code=SPRING25`,
   `?key=park_map` or a presigned agenda link's `X-Amz-Signature=` is part of the record and must be kept
   as posted;
2. by value: every secret the session knows is replaced wherever it occurs, raw or URL-encoded, so a token
   echoed under any name, in an error message or an unexpected field cannot slip through either.

Each redaction is counted by where and which name; the value itself is never recorded.

Logs get the same two nets (`mask_in_logs`): every log record of the process, urllib3's DEBUG lines with full
request URLs included, is redacted when it is created, whatever handler later writes it.
"""
from __future__ import annotations

import logging
import re
import sys
import traceback
from collections import Counter
from urllib.parse import quote, quote_plus, unquote, urlsplit, urlunsplit

MARK = "REDACTED"

SECRET_PARAMS = frozenset({
    "access_token", "appsecret_proof", "key", "api_key", "apikey", "client_secret", "client_id_secret",
    "oauth_token", "oauth_signature", "token", "input_token", "fb_exchange_token", "refresh_token",
    "code", "password", "secret", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
})
# Names that ordinary public links also use (promo codes, map keys, signup tokens): redacted by name in what
# the session sends and logs, but in response bodies only by value (the session knows its own secrets).
AMBIGUOUS_PARAMS = frozenset({"code", "key", "token", "secret", "signature", "password"})
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-goog-api-key",
    "x-amz-security-token", "x-auth-token",
})


def _param_re(names) -> str:
    """A parameter named in `names` inside any URL-ish text: after ?, &, ; or a JSON-escaped & (\\u0026)."""
    return (r"(?P<pre>(?:[?&;]|\\u0026)(?P<name>" + "|".join(sorted(map(re.escape, names), key=len, reverse=True))
            + r")=)(?P<value>[^&\s\"'<>#\\]+)")


_PARAM_RE = re.compile(_param_re(SECRET_PARAMS), re.IGNORECASE)


MIN_SECRET = 6  # secrets at least this long are redacted wherever they occur
MIN_SHORT_SECRET = 3  # shorter ones (a test token, say) only where they stand alone (not inside a word)


def _secret_forms(secrets: list[str]) -> list[str]:
    forms = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:  # shorter values would blank out ordinary words
            forms.update({secret, quote(secret, safe=""), quote_plus(secret), secret.replace("/", "\\/")})
    return sorted(forms, key=len, reverse=True)


def _short_secrets(secrets: list[str]) -> re.Pattern[str] | None:
    """Secrets too short to replace everywhere, as whole tokens only: an API that echoes the credential it
    refused ("Cannot parse access token abc12") must not put it in the archive, whatever its length."""
    short = sorted({s for s in secrets if s and MIN_SHORT_SECRET <= len(s) < MIN_SECRET}, key=len, reverse=True)
    if not short:
        return None
    return re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, short)) + r")(?![A-Za-z0-9])")


class Redactor:
    def __init__(self, secrets: list[str] | None = None):
        self._secrets = list(secrets or [])
        self._index()

    def add_secret(self, secret: str) -> None:
        self._secrets.append(secret)
        self._index()

    def _index(self) -> None:
        self._forms = _secret_forms(self._secrets)
        self._forms_bytes = [f.encode() for f in self._forms]
        self._short = _short_secrets(self._secrets)
        self._short_bytes = re.compile(self._short.pattern.encode()) if self._short else None

    def url(self, url: str, counts: Counter, where: str = "request-url") -> str:
        # Regex, not parse/re-encode: the stored URL keeps the exact encoding that was sent.
        return self.text(url, counts, where)

    def text(self, text: str, counts: Counter, where: str) -> str:
        def sub(m: re.Match) -> str:
            if m.group("value") == MARK:
                return m.group(0)
            counts[(where, m.group("name"))] += 1
            return m.group("pre") + MARK

        text = _PARAM_RE.sub(sub, text)
        for form in self._forms:
            if form in text:
                counts[(where, "known-secret")] += text.count(form)
                text = text.replace(form, MARK)
        if self._short is not None:
            text, n = self._short.subn(MARK, text)
            if n:
                counts[(where, "known-secret")] += n
        return text

    def body(self, body: bytes, counts: Counter, where: str = "response-body", origin: str | None = None) -> bytes:
        """`origin` ("https://graph.facebook.com"): secret names are redacted only in URLs on that host, as
        the API writes them (plain or with JSON-escaped slashes); None: anywhere in the body."""
        # Work on bytes so a body that is not valid UTF-8 is kept byte for byte outside the redacted spans.
        def sub(m: re.Match) -> bytes:
            if m.group("value") == MARK.encode():
                return m.group(0)
            counts[(where, m.group("name").decode("latin-1"))] += 1
            return m.group("pre") + MARK.encode()

        if origin is None:
            body = _BODY_PARAM_RE_BYTES.sub(sub, body)
        elif _host_bytes(origin) in body.lower():  # most bodies (media, X, YouTube pages) never name it
            body = _origin_urls(origin).sub(lambda url: _BODY_PARAM_RE_BYTES.sub(sub, url.group(0)), body)
        for form in self._forms_bytes:
            if form in body:
                counts[(where, "known-secret")] += body.count(form)
                body = body.replace(form, MARK.encode())
        if self._short_bytes is not None:
            body, n = self._short_bytes.subn(MARK.encode(), body)
            if n:
                counts[(where, "known-secret")] += n
        return body

    def headers(self, headers: list[tuple[str, str]], counts: Counter, where: str) -> list[tuple[str, str]]:
        out = []
        for name, value in headers:
            if name.lower() in SECRET_HEADERS:
                counts[(where, name)] += 1
                scheme = value.split(" ", 1)[0] if name.lower().endswith("authorization") and " " in value else ""
                value = f"{scheme} {MARK}".strip()
            else:
                value = self.text(value, counts, where)
            out.append((name, value))
        return out


_BODY_PARAM_RE_BYTES = re.compile(_param_re(SECRET_PARAMS - AMBIGUOUS_PARAMS).encode(), re.IGNORECASE)


def _host_bytes(origin: str) -> bytes:
    return urlsplit(origin).netloc.lower().encode()


_ORIGIN_URLS: dict[str, re.Pattern[bytes]] = {}


def _origin_urls(origin: str) -> re.Pattern[bytes]:
    """URLs on `origin`'s scheme and host inside a body: `https://host/...` or JSON's `https:\\/\\/host\\/...`,
    up to a quote, whitespace or angle bracket."""
    pattern = _ORIGIN_URLS.get(origin)
    if pattern is None:
        parts = urlsplit(origin)
        pattern = re.compile(re.escape(parts.scheme.encode()) + rb":(?:\\?/){2}" + re.escape(_host_bytes(origin))
                             + rb"(?![\w.-])[^\s\"'<>]*", re.IGNORECASE)
        _ORIGIN_URLS[origin] = pattern
    return pattern


def strip_secret_params(url: str) -> str:
    """Drop secret-named parameters (before re-authenticating a URL taken from a redacted body), keeping the
    other parameters exactly as encoded."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    kept = [p for p in parts.query.split("&") if unquote(p.split("=", 1)[0]).lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(query="&".join(kept)))


def summary(counts: Counter) -> list[dict]:
    """JSON-ready list of what was redacted where (names and counts only, never values)."""
    return [{"where": where, "name": name, "count": n} for (where, name), n in sorted(counts.items())]


# -- logs ---------------------------------------------------------------------------------------------------

_LOGS = Redactor()
_factory_installed = False


def mask_in_logs(secret: str) -> None:
    """Keep `secret` (and any secret-named URL parameter) out of every log record from now on; inside an
    Airflow task, Airflow's own masker learns it too (its task logs go through structlog as well)."""
    _LOGS.add_secret(secret)
    _install_record_factory()
    if "airflow.sdk" in sys.modules:  # only inside Airflow: importing it elsewhere costs seconds
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(secret)
        except Exception:  # an older or partial Airflow: the record factory below still applies
            pass


def _install_record_factory() -> None:
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return record
        clean = _LOGS.text(message, Counter(), "log")
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and record.exc_info[0] is not None:
            # Exception texts (e.g. a requests error quoting the URL) are formatted now, redacted, and cached
            # where Formatter looks first.
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = _LOGS.text(text, Counter(), "log")
        return record

    logging.setLogRecordFactory(redacting_factory)
    _factory_installed = True
