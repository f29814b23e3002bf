import json
from collections import Counter

import pytest

from civic_archive.redaction import Redactor, strip_secret_params

SECRET = "EAAB-very-secret-token"


@pytest.mark.parametrize("text", [
    "https://g/x?access_token=EAAB-very-secret-token&after=Q",
    "https:\\/\\/g\\/x?limit=2\\u0026access_token=EAAB-very-secret-token",
    "https://g/x?a=1&appsecret_proof=abc123def456&key=AIzaSyXYZ",
    "Error validating access token EAAB-very-secret-token",
    "token in prose: EAAB-very-secret-token.",
])
def test_text_redaction_removes_every_form(text):
    r = Redactor([SECRET])
    counts = Counter()
    out = r.text(text, counts, "body")
    assert SECRET not in out and "abc123def456" not in out and "AIzaSyXYZ" not in out
    assert counts and all(n > 0 for n in counts.values())


def test_redaction_keeps_other_parameters_and_encoding():
    out = Redactor().url("https://g/1/feed?fields=id%2Cmessage&access_token=T0KEN123&limit=2", Counter())
    assert out == "https://g/1/feed?fields=id%2Cmessage&access_token=REDACTED&limit=2"


def test_similar_names_are_not_redacted():
    out = Redactor().text("https://x/y?pagination_token=abc&monkey=1&keyword=z", Counter(), "u")
    assert out == "https://x/y?pagination_token=abc&monkey=1&keyword=z"


def test_body_redaction_works_on_invalid_utf8():
    body = b"\xff\xfe junk ?access_token=SECRETVALUE1 \xc3"
    out = Redactor(["SECRETVALUE1"]).body(body, Counter())
    assert b"SECRETVALUE1" not in out and out.startswith(b"\xff\xfe junk ")


def test_strip_secret_params():
    assert strip_secret_params("https://g/x?access_token=REDACTED&after=Q%3D%3D&appsecret_proof=REDACTED") \
        == "https://g/x?after=Q%3D%3D"


PUBLIC_TEXT = ("Register at https://city.gov/rec?code=SPRING25&token=ab12cd34 or see "
               "https://maps.example/?key=park_map_2025;secret=garden&signature=jane&password=none")


def test_public_links_in_bodies_are_kept_as_posted():
    """A resident's link with `?code=` or `?key=` is part of the public record: bodies are redacted by name only
    for credential names, and by the values the session knows."""
    body = ('{"message": "%s", "paging": {"next": "https://g/1/feed?access_token=EAAB-very-secret-token'
            '&appsecret_proof=abc123def456&after=Q"}}' % PUBLIC_TEXT).encode()
    counts = Counter()
    out = Redactor([SECRET]).body(body, counts)
    assert PUBLIC_TEXT.encode() in out
    assert SECRET.encode() not in out and b"abc123def456" not in out
    assert counts == Counter({("response-body", "access_token"): 1, ("response-body", "appsecret_proof"): 1})


def test_a_known_secret_under_an_ordinary_name_in_a_body_is_still_redacted():
    body = b'{"message": "see https://x.example/a?key=EAAB-very-secret-token&code=ok"}'
    out = Redactor([SECRET]).body(body, Counter())
    assert out == b'{"message": "see https://x.example/a?key=REDACTED&code=ok"}'


def test_ordinary_names_are_still_redacted_in_urls_sent_and_logs():
    counts = Counter()
    assert Redactor().url("https://www.googleapis.com/youtube/v3/videos?id=1&key=AIzaSyXYZ", counts) \
        == "https://www.googleapis.com/youtube/v3/videos?id=1&key=REDACTED"
    assert counts == Counter({("request-url", "key"): 1})


def test_credential_names_in_bodies_are_redacted_only_on_the_api_host():
    """A body's links to other hosts are the public's text (a presigned agenda link, a map embed's public
    key): kept as posted, even under credential names. URLs on the host the request went to (the API's own
    paging links, plain or JSON-escaped) are redacted by name; the session's own secrets go by value anywhere."""
    agenda = ("https://bucket.s3.amazonaws.com/agenda.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
              "&X-Amz-Credential=AKIAEXAMPLE%2F20250304&X-Amz-Signature=abc123def456")
    post = f"Agenda: {agenda} map https://maps.example.gov/embed?api_key=publicmapkey1 " \
           "https://graph.facebook.com.evil.example/x?access_token=lookalike1"
    body = json.dumps({"data": [{"message": post}], "paging": {
        "next": "https://graph.facebook.com/v21.0/1/feed?access_token=EAAB-very-secret-token&after=Q",
        "previous": "https://graph.facebook.com/v21.0/1/feed?appsecret_proof=proof123456&before=P"}}).encode()
    escaped = body.replace(b"/", b"\\/")
    for raw in (body, escaped):
        counts = Counter()
        out = Redactor([SECRET]).body(raw, counts, origin="https://graph.facebook.com")
        text = json.loads(out)
        assert text["data"][0]["message"] == post
        assert text["paging"]["next"] == "https://graph.facebook.com/v21.0/1/feed?access_token=REDACTED&after=Q"
        assert text["paging"]["previous"] == "https://graph.facebook.com/v21.0/1/feed?appsecret_proof=REDACTED&before=P"
        assert counts[("response-body", "access_token")] == 1 and counts[("response-body", "appsecret_proof")] == 1
    # without an origin (other callers), every credential name in the body is redacted, as before
    out = Redactor().body(body, Counter())
    assert b"abc123def456" not in out and b"publicmapkey1" not in out
    # a secret the session knows is redacted wherever it is
    leaked = json.dumps({"message": f"https://elsewhere.example/?q={SECRET}"}).encode()
    assert SECRET.encode() not in Redactor([SECRET]).body(leaked, Counter(), origin="https://graph.facebook.com")


def test_a_short_secret_is_redacted_where_it_stands_alone():
    """A credential under 6 characters (a test token) is not replaced inside other words, but where it stands
    alone, as an API echoing the token it refused writes it, it is."""
    r = Redactor(["tok12"])
    counts = Counter()
    body = (b'{"error":{"message":"Invalid OAuth access token - Cannot parse access token tok12","code":190},'
            b'"tok123":"atok12b","n":"tok12"}')
    out = r.body(body, counts)
    assert b"tok12" not in out.replace(b"tok123", b"").replace(b"atok12b", b"")
    assert b'"tok123":"atok12b"' in out and counts[("response-body", "known-secret")] == 2
    assert json.loads(out)["error"]["message"].endswith("access token REDACTED")
    counts = Counter()
    assert r.text("Bearer tok12 refused", counts, "log") == "Bearer REDACTED refused"
    assert Redactor(["ab"]).text("ab abc", Counter(), "log") == "ab abc"  # two characters: left alone
