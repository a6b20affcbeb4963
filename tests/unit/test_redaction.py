"""Credentials and tokens never reach the journal, the run's JSON or the HTML report."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.leaky_run import leaked, run_with_secrets

from chaoskit.errors import ConfigError
from chaoskit.redaction import Redactor, redact

# Each form a credential is written in, with {} where the secret goes.
KEYED_FORMS = [
    "https://admin:{}@shop.example.com/cart",
    "postgres://app:{}@db:5432/shop",
    "{{'aws_secret_access_key': '{}'}}",
    '{{"client_secret": "{}"}}',
    "client_secret={}&scope=all",
    "access_token={}",
    "secret_key: {}",
    'password="with a space {}" next',
    "password='{}'",
    "db_password = {}",
    "x-api-key: {}",
    "Authorization: Bearer {}",
    "Authorization: Basic {}",
    "test_login[password={}]",
    "refused: PASSWORD={}; retrying",
]
SECRET = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    min_size=8,
    max_size=40,
)


def tokens() -> st.SearchStrategy[str]:
    """Tokens recognisable by their format alone, whatever surrounds them."""
    upper = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16)
    b64url = st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        min_size=10,
        max_size=60,
    )
    return st.one_of(
        upper.map(lambda body: "AKIA" + body),
        upper.map(lambda body: "ASIA" + body),
        st.text(alphabet="abcdefXYZ0123456789", min_size=36, max_size=36).map(
            lambda body: "ghp_" + body
        ),
        st.text(alphabet="abcdefXYZ0123456789", min_size=24, max_size=32).map(
            lambda body: "sk_live_" + body
        ),
        st.tuples(b64url, b64url, b64url).map(lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}"),
    )


@given(form=st.sampled_from(KEYED_FORMS), secret=SECRET)
def test_a_secret_in_any_keyed_form_is_redacted_and_the_rest_kept(form: str, secret: str) -> None:
    assume("redacted" not in secret.lower())
    text = form.format(secret)
    cleaned = redact(text)
    assert secret not in cleaned
    assert "[redacted]" in cleaned
    assert redact(cleaned) == cleaned  # redacting twice changes nothing
    # What follows the secret stays readable.
    assert cleaned.endswith(form.partition("{}")[2].replace("}}", "}"))


@given(token=tokens(), before=st.sampled_from(["", "got ", "token ", "(", "url=/?q=", "\n"]))
def test_a_token_recognisable_by_its_format_is_redacted_anywhere(token: str, before: str) -> None:
    cleaned = redact(f"{before}{token} failed")
    assert token not in cleaned
    assert cleaned.endswith(" failed")


@pytest.mark.parametrize(
    "text",
    [
        "p99 < 300ms in recovery: 1000 successful requests",
        "test_password_reset_works",
        "HTTP 503",
        "InvalidTokenError",
        "Latency 100ms ±20ms on 1 of web -> i-878f5ab97ade",
        "https://shop.example.com/cart",
    ],
)
def test_text_without_credentials_is_left_alone(text: str) -> None:
    assert redact(text) == text


# Each case as written, and what redaction makes of it: identical when nothing in it is a
# credential. Where a case was wrong before it says how.
KEPT_AND_REDACTED = [
    # key words inside an identifier or a test id are not keys (each was "[redacted]")
    ("test_token_refresh.py::test_a", "test_token_refresh.py::test_a"),
    ("test_token_refresh.py::test_b", "test_token_refresh.py::test_b"),
    ("tests/test_password_reset.py::TestX::test_y", "tests/test_password_reset.py::TestX::test_y"),
    ("test_secret.py::test_rotation[eu-west-1]", "test_secret.py::test_rotation[eu-west-1]"),
    ("token_count=5", "token_count=5"),
    ("secret_sauce: 3 grams", "secret_sauce: 3 grams"),
    ("password_reset=true", "password_reset=true"),
    ("bypass=1", "bypass=1"),
    ("keys=3, sort_key=name", "keys=3, sort_key=name"),
    # prose: no separator, no flag
    ("password is hunter2", "password is hunter2"),
    ("token expired after 5s", "token expired after 5s"),
    ("access_token expired", "access_token expired"),
    ("Basic authentication works", "Basic authentication works"),
    # a port is not a password, a path is not userinfo
    ("https://host:8080/@alice", "https://host:8080/@alice"),
    ("https://shop.example.com/cart?user=a@b.c", "https://shop.example.com/cart?user=a@b.c"),
    # a key followed by =, :, => or a quote and one of these
    ("password: hunter2", "password: [redacted]"),
    ("password=hunter2", "password=[redacted]"),
    ("PASSWORD = hunter2", "PASSWORD = [redacted]"),
    ('"password" => "hunter2"', '"password" => "[redacted]"'),
    ("clientSecret=abc", "clientSecret=[redacted]"),
    ("spring.datasource.password=abc", "spring.datasource.password=[redacted]"),
    ("x-api-key: abc", "x-api-key: [redacted]"),
    (
        "?access_token=abc&refresh_token=def&n=1",
        "?access_token=[redacted]&refresh_token=[redacted]&n=1",
    ),
    # dict forms: numbers, quoted, lists (each was kept)
    ("{'password': 1234}", "{'password': [redacted]}"),
    ("{'pass': 'hunter2'}", "{'pass': '[redacted]'}"),
    ("{'token': ['a','b']}", "{'token': [redacted]}"),
    ('{"apikey": "a b", "n": 1}', '{"apikey": "[redacted]", "n": 1}'),
    # Python source, as a test's source is recorded (the annotated value was kept)
    ('secret_key: str = "abc"', 'secret_key: [redacted] = "[redacted]"'),
    ("api_key: str | None = abc123", "api_key: [redacted] | None = [redacted]"),
    ('login(password="hunter2")', 'login(password="[redacted]")'),
    # a flag and its value (was kept)
    ("test_x[--password hunter2]", "test_x[--password [redacted]]"),
    ('--db-password "a b" --verbose', '--db-password "[redacted]" --verbose'),
    ("--token --verbose", "--token --verbose"),
    # a compound key, a space, a value with a digit (was kept)
    ("aws_secret_access_key hunter2", "aws_secret_access_key [redacted]"),
    # headers
    ("Cookie: sessionid=a1; csrftoken=b2", "Cookie: [redacted]"),
    ("Authorization: Token abc123", "Authorization: [redacted]"),
    ("call with Bearer abc.def-123 failed", "call with [redacted] failed"),
    # url userinfo ends at the last @ before the host (half the password was kept)
    ("mysql://root:p@ssSEKRET3@db", "mysql://root:[redacted]@db"),
    ("https://u:ab/cd@h", "https://u:[redacted]@h"),
    ("redis://:s3cret@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
    # known token formats, short bodies included (were kept)
    ("sk_live_abc", "[redacted]"),
    ("key rk_test_4eC39Hq", "key [redacted]"),
    ("ghp_short12345", "[redacted]"),
    ("gho_abcdef and ghs_123456", "[redacted] and [redacted]"),
    ("github_pat_11ABCDE", "[redacted]"),
    ("xoxb-123456", "[redacted]"),
    ("AKIAIOSFODNN7EXAMPLE", "[redacted]"),
    ("jwt eyJhbGci.eyJzdWIi.sig", "jwt [redacted]"),
]


@pytest.mark.parametrize(("text", "expected"), KEPT_AND_REDACTED)
def test_each_form_is_kept_or_redacted_as_documented(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected


def test_distinct_test_ids_stay_distinct() -> None:
    ids = [text for text, expected in KEPT_AND_REDACTED if text == expected and "::" in text]
    assert len(ids) == 4
    assert len({redact(test_id) for test_id in ids}) == len(ids)


# Text assembled from the pieces credentials are written with, and from near misses.
PIECES = st.sampled_from(
    [
        "password",
        "PASS",
        "token",
        "_token",
        "token_",
        "secret",
        "api-key",
        "clientSecret",
        "aws_secret_access_key",
        "Cookie",
        "Authorization",
        "Bearer",
        "--",
        "-",
        "=",
        "=>",
        ":",
        "::",
        " ",
        "\n",
        "'",
        '"',
        "[",
        "]",
        "{",
        "}",
        ",",
        "@",
        "/",
        "https://",
        "u:",
        "hunter2",
        "abc",
        "123",
        "ghp_",
        "sk_live_",
        "AKIA",
        "eyJ",
        ".",
        "[redacted]",
    ]
)


@given(parts=st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=14))
def test_redacting_twice_changes_nothing(parts: list[str]) -> None:
    once = redact("".join(parts))
    assert redact(once) == once


# What the key words and token formats begin with: text without any of them is not touched.
TRIGGERS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "authorization",
    "cookie",
    "session",
    "credential",
    "bearer",
    "basic",
    "://",
    "akia",
    "asia",
    "abia",
    "acca",
    "gh",
    "sk_",
    "rk_",
    "pk_",
    "xox",
    "aiza",
    "eyj",
    "-----begin",
)


@given(text=st.text(alphabet=st.sampled_from("abcdeXYZ0129 =:'\"[]{}_-./@,;\n"), max_size=60))
def test_text_without_a_key_word_or_token_format_is_never_touched(text: str) -> None:
    assume(not any(trigger in text.lower() for trigger in TRIGGERS))
    assert redact(text) == text


@given(
    word=st.sampled_from(["password", "token", "secret", "pass", "api_key", "session"]),
    suffix=st.sampled_from(["_count", "_reset", "_sauce", "_refresh.py", "s_total", "_id_x"]),
    separator=st.sampled_from(["=", ": ", "::", " "]),
    value=st.sampled_from(["5", "hunter2", "test_a", "'x'"]),
)
def test_a_key_word_inside_a_name_does_not_make_it_a_key(
    word: str, suffix: str, separator: str, value: str
) -> None:
    text = f"test_{word}{suffix}{separator}{value}"
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    ["eyJ" + "a." * 8000, "--a-" * 4000, "a-" * 8000, "http://u:a" * 1600, "password=1 " * 1500],
    ids=["jwt-like", "flags", "dashed-name", "urls-without-at", "many-keys"],
)
def test_a_long_text_made_to_slow_the_patterns_is_redacted_at_once(text: str) -> None:
    # The first three took from 1 to 40 seconds when a pattern read the text again from each
    # place it could start (the report of a run hung on one such failure reason); the others
    # guard the url and key patterns, which could do the same.
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 2.0


def test_patterns_of_ones_own_are_added_to_the_built_in_ones() -> None:
    redactor = Redactor(extra=("internal-[0-9]+", r"customer \w+"))
    assert redactor.text("internal-4711 for customer alice, password=x") == (
        "[redacted] for [redacted], password=[redacted]"
    )


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["("], r"redact\[0\] = '\(' is not a valid regular expression"),
        (["ok", 5], r"redact\[1\] = 5 is not a regular expression"),
        (["x*"], r"redact\[0\] = 'x\*' matches empty text"),
    ],
)
def test_a_bad_pattern_of_ones_own_is_a_config_error_naming_it(
    patterns: Sequence[object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Redactor(extra=tuple(patterns))  # type: ignore[arg-type]


def test_json_values_are_redacted_by_key_and_machine_fields_are_kept() -> None:
    histogram = "HISTFAAAACR42pNpmSzMwMAgwQABzFCaEUwzMIEZTA1MDAwMYiEAAIAMA+I=AKIAIOSFODNN7EXAMPLE"
    cleaned = Redactor(extra=("[A-Z]{6}",)).value(
        {
            "token": "abc",
            "failed": {"InvalidTokenError": 3, "HTTP 503 password=x": 1},
            "undo": {"op": "remove_fault", "handle": "FAULTS-1"},
            "injection_id": "ABCDEFGH1234",
            "latency_us": histogram,
        }
    )
    assert cleaned == {
        "token": "[redacted]",
        "failed": {"InvalidTokenError": 3, "HTTP 503 password=[redacted]": 1},
        "undo": {"op": "remove_fault", "handle": "FAULTS-1"},
        "injection_id": "ABCDEFGH1234",
        "latency_us": histogram,
    }


# -- end to end: what a run writes ---------------------------------------------------------


def test_no_secret_reaches_the_journal_the_json_or_the_html(tmp_path: Path) -> None:
    journal, journal_path, (latest, stamped, journal_json, index) = run_with_secrets(tmp_path)
    for path in (journal_path, latest, stamped, journal_json, index):
        assert leaked(path.read_text(encoding="utf-8")) == [], path.name
    # What the user's own assertions see is what was recorded.
    assert leaked(json.dumps(journal.to_json())) == []
    [result] = journal.experiments
    assert result.name == "test_login[https://admin:[redacted]@shop/ [redacted]]"
    # The report still reads: the redaction replaced the secrets, not the page.
    html = latest.read_text(encoding="utf-8")
    assert re.search(r"token=\[redacted\] holds", html)
    assert "denied for key [redacted]" in html
