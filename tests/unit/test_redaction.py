"""Credentials and tokens never reach the journal, the run's JSON or the HTML report."""

from __future__ import annotations

import json
import re
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
