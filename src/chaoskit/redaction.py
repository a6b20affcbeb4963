"""Credentials and tokens never reach a journal or a report.

A report is made to be shared, and what it shows comes from strings chaoskit does not control:
test ids (a parametrised url with a password in it), objective names, ``slo.custom`` values,
failure reasons, fault errors that quote a command line. So every string is redacted where
data enters the journal (``JournalWriter``), and everything downstream (the ``.jsonl``
write-ahead log, the run's JSON, the HTML page) only ever sees the redacted text.

The built-in patterns (``BUILT_IN``; ``[tool.chaoskit] redact = [...]`` adds regular
expressions of one's own, whose every match is replaced) replace with ``[redacted]``:

- the value of a credential's key. A key is a name whose last word is one of ``KEY_WORDS``
  (``password``, ``token``, ``secret``, ``api_key``, ``cookie``, ...): alone, or ending a
  compound name (``db_password``, ``client_secret``, ``aws_secret_access_key``, ``x-api-key``,
  ``clientSecret``). It is a key only where it is used as one: followed by ``=``, ``:``
  (not ``::``) or ``=>``, quoted or not (``{'pass': 'x'}``, ``"token": "x"``), or written as
  a command-line flag followed by its value (``--password x``). A compound key followed by a
  space and a value with a digit in it is one too (``aws_secret_access_key hunter2``), and so
  is Python's annotated assignment (``secret_key: str = "x"``). The
  value is replaced whole in every form: bare, quoted (spaces included), a number, a list;
- an ``Authorization`` or ``Cookie`` header's value, to the end of the line;
- the password of a url's userinfo, which ends at the last ``@`` before the host
  (``mysql://root:[redacted]@db`` for ``root:p@ss@db``);
- ``Bearer``/``Basic`` credentials (a word after them that reads as a word is left alone), and
  tokens recognisable by their format (``TOKEN_FORMATS``): AWS access key ids (``AKIA`` +
  16), GitHub tokens (``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` + 6 or more, ``github_pat_``
  + 6 or more), Stripe keys (``sk_``/``rk_``/``pk_`` ``live_``/``test_`` + 3 or more), Slack
  tokens (``xoxb-``/``xoxp-``/``xoxa-``/``xoxs-``... + 6 or more), Google API keys (``AIza`` +
  30 or more), JSON Web Tokens (``eyJ...``.``eyJ...``.``...``) and PEM private key blocks. The
  minimums are far below a real token's length, so a short or truncated one goes too.

Left as written, because they are not credentials: a key word inside an identifier
(``test_password_reset``, ``token_count=5``, ``secret_sauce: 3 grams``, the test id
``test_token.py::test_a``), a key word in prose (``password is hunter2``, ``token expired``,
``password hunter2`` without a ``--``), a url's port and path (``https://host:8080/@alice``).
Redacting twice changes nothing.

Stdlib only: the journal, the report and the configuration use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from chaoskit.errors import ConfigError

REDACTED: Final = "[redacted]"

# The words that make a name a credential's key when they end it. A word written with "_" is
# also matched with "-" or nothing between its parts (api_key, api-key, apikey).
KEY_WORDS: Final = (
    "password",
    "passwd",
    "pass",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "access_key",
    "secret_key",
    "private_key",
    "auth_key",
    "authorization",
    "cookie",
    "session",
    "session_id",
    "credential",
    "credentials",
)
# Longest first, so that "session_id" is one word rather than "session" followed by "_id".
_WORDS: Final = "|".join(
    word.replace("_", "[_-]?") for word in sorted(KEY_WORDS, key=len, reverse=True)
)
# A key starts where no name goes on to its left (so "test_password_reset" is one name, read
# from its start) and ends where none goes on to its right (so "token_count" is not "token").
# Earlier words are joined by "_", "-" or "." (db_password, x-api-key, spring.datasource.
# password), or by camel case (clientSecret). The key words match in any case; the camel-case
# boundary is case-sensitive, so "bypass" is not "by" + "pass".
_START: Final = r"(?<![\w.-])"
_END: Final = r"(?![\w-]|\.\w)"
_KEY: Final = rf"(?:[A-Za-z0-9]+[_.-])*(?:[a-z0-9]+(?=[A-Z]))?(?i:{_WORDS}){_END}"
# A key of two words or more: what is written "aws_secret_access_key hunter2" is a key.
_COMPOUND_KEY: Final = (
    rf"(?:(?:[A-Za-z0-9]+[_.-])+|[a-z0-9]+(?=[A-Z]))(?i:{_WORDS}){_END}"
    rf"|(?i:(?:api|access|secret|private|auth)[_-]key|session[_-]id){_END}"
)
# A value: quoted (to its closing quote, escaped quotes included), a list, or bare (up to a
# space or the punctuation that ends a value in a url, a test id or a dict).
_VALUE: Final = r"""(?!\[redacted\])(?:
        "(?P<double>(?:[^"\\\n]|\\.)*)"
      | '(?P<single>(?:[^'\\\n]|\\.)*)'
      | (?P<list>\[[^\[\]\n]*\])
      | (?P<bare>[^\s,;&'"(){}<>\[\]]+)
    )"""
_SCHEME: Final = r"(?P<scheme>(?i:bearer|basic|digest|token)[ \t]+)?"

_KEY_VALUE: Final = re.compile(
    rf"""(?x)
    (?P<key>(?P<quote>["']?){_START}-{{0,2}}{_KEY}(?P=quote))
    (?P<separator>[ \t]*(?:=>?|:(?!:))[ \t]*)
    {_SCHEME}{_VALUE}"""
)
# Python's annotated assignment (secret_key: str = "x"), as in a test's source: the value
# after "=" is the secret; _KEY_VALUE then takes the annotation too, which is harmless.
_ANNOTATED_VALUE: Final = re.compile(
    rf"""(?x)
    (?P<key>{_START}{_KEY})
    (?P<separator>[ \t]*:[ \t]*
        [A-Za-z_][\w.]*(?:\[[^\]\n]*\])?(?:[ \t]*\|[ \t]*[A-Za-z_][\w.]*)*
        [ \t]*=(?!=)[ \t]*)
    {_VALUE}"""
)
_FLAG_VALUE: Final = re.compile(
    rf"""(?x)
    (?P<key>{_START}--?{_KEY})
    (?P<separator>[ \t]+)
    (?!-){_VALUE}"""
)
_COMPOUND_KEY_SPACE_VALUE: Final = re.compile(
    rf"""(?x)
    (?P<key>{_START}(?:{_COMPOUND_KEY}))
    (?P<separator>[ \t]+)
    (?=[^\s,;&'"(){{}}<>\[\]]*[0-9])
    (?P<bare>(?!\[redacted\])[^\s,;&'"(){{}}<>\[\]]+)"""
)
_HEADER: Final = re.compile(
    rf"""(?x)
    (?P<key>(?P<quote>["']?){_START}(?i:(?:proxy-)?authorization|(?:set-)?cookie)(?P=quote))
    (?P<separator>[ \t]*:[ \t]*)
    (?!\[redacted\])(?P<bare>[^\s"'\]\)}}][^\r\n"'\]\)}}]*)"""
)
# scheme://user:password@host. The password may hold "@", ":" and "/": it ends at the "@"
# followed by a host with no further "@" in it. A port is not a password, even with an "@"
# later in the path (https://host:8080/@alice). Bounded in length, so that a long text of
# "scheme://a:" without an "@" is not read again from each of them.
_URL_USERINFO: Final = re.compile(
    r"""(?x)
    (?P<prefix>(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/?#@:]*:)
    (?!\d*(?:[/?#\s]|$))
    (?P<password>[^\s]{0,256}?)
    @(?=[^\s@/?#'"<>()\[\]{},;]*(?:[/?#\s'"<>()\[\]{},;]|$))""",
    re.IGNORECASE,
)
# A credential after "Bearer" or "Basic": base64 or a token, which has a digit, a symbol or an
# upper-case letter after its first; "Basic authentication works" is prose.
_AUTH_SCHEME: Final = re.compile(
    r"(?i:\b(?:bearer|basic)[ \t]+)(?!\[redacted\])"
    r"(?=[A-Za-z0-9._~+/-]*(?:[0-9._~+/=-]|(?<=[A-Za-z0-9._~+/-])[A-Z]))[A-Za-z0-9._~+/-]{6,}=*"
)
TOKEN_FORMATS: Final = (
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{6,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{6,}"),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{3,}\b"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{6,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
)
# A JSON object's key that names a credential: its string values are replaced whole.
_KEY_NAME: Final = re.compile(rf"-{{0,2}}{_KEY}")

# Fields of the journal that machines read back and no person wrote: an encoded histogram
# (a pattern matching inside it would corrupt it), the id that pairs a fault's events, and an
# injection's undo, which ``chaoskit recover`` executes (providers put ids and handles in it,
# never a credential: those come from the environment when it is read).
VERBATIM_KEYS: Final = frozenset({"latency_us", "injection_id", "undo"})


def _keep_key(match: re.Match[str]) -> str:
    """The key, its separator and any scheme as written; the value replaced, quotes kept."""
    groups = match.groupdict()
    kept = match.group("key") + match.group("separator") + (groups.get("scheme") or "")
    if groups.get("double") is not None:
        return f'{kept}"{REDACTED}"'
    if groups.get("single") is not None:
        return f"{kept}'{REDACTED}'"
    return f"{kept}{REDACTED}"


def _keep_url(match: re.Match[str]) -> str:
    return f"{match.group('prefix')}{REDACTED}@"


# In the order they are applied (see ``Redactor.text``), each with what replaces a match.
_BUILT_IN: Final[tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = (
    (_AUTH_SCHEME, REDACTED),
    *((pattern, REDACTED) for pattern in TOKEN_FORMATS),
    (_URL_USERINFO, _keep_url),
    *(
        (keyed, _keep_key)
        for keyed in (
            _HEADER,
            _ANNOTATED_VALUE,
            _KEY_VALUE,
            _FLAG_VALUE,
            _COMPOUND_KEY_SPACE_VALUE,
        )
    ),
)


@dataclass(frozen=True, kw_only=True)
class Redactor:
    """Replaces credentials and tokens in text and in JSON values; ``extra`` are regular
    expressions of one's own (``[tool.chaoskit] redact``), each match replaced."""

    extra: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = []
        for index, pattern in enumerate(self.extra):
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(
                    f"[tool.chaoskit] redact[{index}] = {pattern!r} is not a regular expression; "
                    f"write each pattern as a non-empty string, e.g. redact = ['internal-[0-9]+']."
                )
            try:
                compiled.append(re.compile(pattern))
            except re.error as error:
                raise ConfigError(
                    f"[tool.chaoskit] redact[{index}] = {pattern!r} is not a valid regular "
                    f"expression ({error}); fix it, or escape it with re.escape's rules."
                ) from None
            if compiled[-1].fullmatch(""):
                raise ConfigError(
                    f"[tool.chaoskit] redact[{index}] = {pattern!r} matches empty text, so it "
                    f"would redact between every character; make it match at least one."
                )
        object.__setattr__(self, "_compiled", tuple(compiled))

    def text(self, text: str) -> str:
        """``text`` with every credential and token replaced by ``[redacted]``."""
        # Tokens first: "Authorization: Bearer x" is then one redaction, not a key whose
        # value looks like the word "Bearer"; a url before keys, so that its password is
        # not read as the value of a key ending in its user name.
        for pattern, replacement in _BUILT_IN:
            text = pattern.sub(replacement, text)
        for pattern in self._compiled:
            text = pattern.sub(REDACTED, text)
        return text

    def value(self, value: object) -> object:
        """A JSON value with every string in it redacted, keys included; a credential key's
        value (a string, or a list holding one) is replaced whole. ``VERBATIM_KEYS`` are left
        as they are."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(key)): self._entry(str(key), item) for key, item in value.items()}
        if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            return [self.value(item) for item in value]
        return value

    def _entry(self, key: str, item: object) -> object:
        if key in VERBATIM_KEYS:
            return item
        # Counts and nested objects under such a key are chaoskit's own (a failure reason
        # that is just "token" counted 3 times), so only what a person wrote is replaced.
        if _KEY_NAME.fullmatch(key) and _holds_text(item):
            return REDACTED
        return self.value(item)


def _holds_text(item: object) -> bool:
    if isinstance(item, str):
        return bool(item)
    if isinstance(item, Sequence) and not isinstance(item, bytes | bytearray):
        return any(isinstance(element, str) for element in item)
    return False


DEFAULT_REDACTOR: Final = Redactor()

redact: Final[Callable[[str], str]] = DEFAULT_REDACTOR.text
