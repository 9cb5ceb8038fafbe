"""The one masking rule (instrumentation/redact.py): URLs, headers, settings and free text."""

from __future__ import annotations

import pytest

from instrumentation.redact import (
    MASK,
    redact_header_list,
    redact_headers,
    redact_setting,
    redact_text,
    redact_url,
    secret_name,
)


@pytest.mark.parametrize(("url", "hide", "shown"), [
    ("https://user:pw@hooks.example.com/services/T0/B0/XYZ?token=1", True, "https://****@hooks.example.com/***?token=****"),
    ("https://hooks.example.com/T0/B0/secretpath", True, "https://hooks.example.com/***"),
    ("https://hooks.example.com", True, "https://hooks.example.com"),
    ("http://collector:4318", False, "http://collector:4318"),
    ("https://api.example.com/v1", False, "https://api.example.com/v1"),
    ("redis://:pw@127.0.0.1:6379/0", False, "redis://****@127.0.0.1:6379/0"),
    ("rediss://default:pw@cache.example.com:6380/1", False, "rediss://****@cache.example.com:6380/1"),
    ("http://pg:pw@gateway:9091", False, "http://****@gateway:9091"),
    ("http://h/q?api-version=2024&api_key=k&X-Amz-Signature=s&sig=x&access_token=t&limit=5", False,
     "http://h/q?api-version=2024&api_key=****&X-Amz-Signature=****&sig=****&access_token=****&limit=5"),
    ("http://h/q?bare-token-value", False, "http://h/q?****"),
    ("http://h/cb#access_token=t", False, "http://h/cb#****"),
    ("http://[::1]:9091/x", False, "http://[::1]:9091/x"),
    ("http://prom:notaport/x", False, "http://prom/x"),
    ("", False, ""),
])
def test_urls_keep_where_they_go_and_lose_their_credentials(url: str, hide: bool, shown: str) -> None:
    assert redact_url(url, hide_path=hide) == shown


@pytest.mark.parametrize(("name", "secret"), [
    ("token", True), ("api_key", True), ("X-API-Key", True), ("client_secret", True), ("password", True),
    ("X-Goog-Signature", True), ("sig", True), ("Authorization", True), ("Cookie", True), ("session_id", True),
    ("limit", False), ("api-version", False), ("signal", False), ("format", False),
])
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


def test_header_values_are_masked_unless_they_never_carry_a_credential() -> None:
    headers = {"Authorization": "Bearer t", "X-API-Key": "k", "Cookie": "s=1", "x-honeycomb-team": "k2",
               "Content-Type": "application/json", "User-Agent": "curl/8"}
    assert redact_headers(headers) == {"Authorization": MASK, "X-API-Key": MASK, "Cookie": MASK,
                                       "x-honeycomb-team": MASK, "Content-Type": "application/json",
                                       "User-Agent": "curl/8"}
    assert redact_header_list("authorization=Bearer t, dd-api-key=k,content-type=text/plain,junk") == \
        "authorization=****,dd-api-key=****,content-type=text/plain,****"


def test_settings_by_name_and_value() -> None:
    assert redact_setting("monitoring_webhook_secret", "s3cr3t") == MASK
    assert redact_setting("additional_api_keys", ["a", "b"]) == [MASK, MASK]
    assert redact_setting("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-token=t") == "x-token=****"
    assert redact_setting("monitoring_webhook_url", "https://h/hooks/T0") == "https://h/***"
    assert redact_setting("prometheus_gateway_url", "http://u:p@gw:9091") == "http://****@gw:9091"
    assert redact_setting("redis_url", "redis://:p@r:6379/0") == "redis://****@r:6379/0"
    assert redact_setting("metrics_export_interval", 60.0) == 60.0
    assert redact_setting("otel_service_name", "svc") == "svc" and redact_setting("prometheus_url", "") == ""


def test_free_text_loses_every_url_credential_in_it() -> None:
    error = ("ConnectError: cannot reach http://u:p4ss@gw:9091/metrics/job/x?token=t0k (redis://:pw@r:6379/0), "
             "sent Authorization: Bearer abc.def and Basic dXNlcjpwdw==")
    shown = redact_text(error)
    for secret in ("p4ss", "t0k", ":pw@", "abc.def", "dXNlcjpwdw=="):
        assert secret not in shown, shown
    assert "http://****@gw:9091/metrics/job/x?token=****" in shown and "redis://****@r:6379/0" in shown
    assert redact_text("All connection attempts failed") == "All connection attempts failed"


def test_a_url_in_a_sentence_keeps_its_port_before_the_punctuation() -> None:
    """The sentence's colon or full stop is not part of the URL: kept in, it hid the port."""
    assert redact_text("Prometheus at http://prom.internal:9090: refused") == \
        "Prometheus at http://prom.internal:9090: refused"
    assert redact_text("posting to http://u:pw@hook.example:8443/x?token=t.") == \
        "posting to http://****@hook.example:8443/x?token=****."


def test_a_query_string_alone_is_masked_as_in_a_url() -> None:
    from instrumentation.redact import redact_query

    assert redact_query("q=cats&password=hunter2&&lone") == "q=cats&password=****&****"
    assert redact_query("") == ""
    query = "q=cats&password=hunter2"
    assert redact_url(f"https://h/p?{query}") == f"https://h/p?{redact_query(query)}"


@pytest.mark.parametrize("text", [
    "plain line, nothing to mask", "auth: BEARER abc", "x Basic dXNlcjpwdw== y", "BaSiC\tq", "Bearer",
    "ba\u017fic secret-value", "bearer \u00e9t\u00e9", "see http://u:p@h:1/x?token=t.", "\u00e9 https://h/?key=k",
    "basically fine", "a bearer-less line",
])
def test_free_text_is_masked_as_both_patterns_mask_it(text: str) -> None:
    """The literal checks in front of the patterns change nothing: the patterns alone give the same text."""
    from instrumentation.redact import _AUTH_IN_TEXT, _URL_IN_TEXT

    by_patterns = _AUTH_IN_TEXT.sub(lambda m: f"{m.group(1)} {MASK}",
                                    _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text))
    assert redact_text(text) == by_patterns
