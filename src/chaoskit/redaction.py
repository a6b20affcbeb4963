"""Credentials and tokens never reach a journal or a report.

A report is made to be shared, and what it shows comes from strings chaoskit does not control:
test ids (a parametrised url with a password in it), objective names, ``slo.custom`` values,
failure reasons, fault errors that quote a command line. So every string is redacted where
data enters the journal (``JournalWriter``), and everything downstream (the ``.jsonl``
write-ahead log, the run's JSON, the HTML page) only ever sees the redacted text.

What is replaced by ``[redacted]`` (``BUILT_IN`` below; ``[tool.chaoskit] redact = [...]``
adds regular expressions of one's own, whose every match is replaced):

- the password of a url's userinfo: ``https://admin:[redacted]@host``;
- the value after a credential-like key, whatever the form: ``password=x``, ``password: x``,
  ``password="x y"``, ``{'aws_secret_access_key': 'x'}``, ``"client_secret": "x"``, and
  compound keys (``client_secret``, ``access_token``, ``secret_key``, ``db_password``, ...);
- ``Bearer``/``Basic`` credentials, and tokens recognisable by their format: AWS access key
  ids (``AKIA...``, ``ASIA...``), GitHub tokens (``ghp_...``, ``github_pat_...``), Stripe keys
  (``sk_live_...``), Slack tokens (``xoxb-...``), Google API keys (``AIza...``), JSON Web
  Tokens (``eyJ...``.``eyJ...``.``...``) and PEM private key blocks;
- in a JSON object, the value of a credential-like key (``{"token": "x"}``).

Stdlib only: the journal, the report and the configuration use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from chaoskit.errors import ConfigError

REDACTED: Final = "[redacted]"

# Words that make a key name a credential's, alone or inside a compound name
# (client_secret, access_token, db_password, x-api-key, private_key).
_KEY_WORDS = (
    r"secret|passw(?:or)?d|passphrase|pwd|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|credentials?|authorization|auth[_-]?key|session[_-]?id|cookie"
)
_KEY_NAME: Final = re.compile(rf"(?i)[\w.-]*(?:{_KEY_WORDS})[\w.-]*")
# A credential-like key, optionally quoted, a separator, then its value: quoted (any text up
# to the closing quote) or bare (up to a space or punctuation that ends a value).
_KEY_VALUE: Final = re.compile(
    rf"""(?ix)
    (?P<key>["']?\b[\w.-]*(?:{_KEY_WORDS})[\w.-]*["']?)
    (?P<separator>\s*(?:=|:)\s*)
    (?P<scheme>(?:bearer|basic|digest|token)\s+)?+
    (?!\[redacted\])
    (?:
        "(?P<double>[^"]*)"
      | '(?P<single>[^']*)'
      | (?P<bare>[^\s,;&'"(){{}}<>\[\]]+)
    )
    """
)
_URL_USERINFO: Final = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)(?!\[redacted\]@)[^@\s/]+@"
)
_TOKENS: Final = (
    re.compile(r"(?i)\b(?:bearer|basic)\s+(?!\[redacted\])[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}\b"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
)
BUILT_IN: Final = (_URL_USERINFO.pattern, _KEY_VALUE.pattern, *(p.pattern for p in _TOKENS))

# Fields of the journal that machines read back and no person wrote: an encoded histogram
# (a pattern matching inside it would corrupt it), the id that pairs a fault's events, and an
# injection's undo, which ``chaoskit recover`` executes (providers put ids and handles in it,
# never a credential: those come from the environment when it is read).
VERBATIM_KEYS: Final = frozenset({"latency_us", "injection_id", "undo"})


def _keep_key(match: re.Match[str]) -> str:
    key, separator = match.group("key"), match.group("separator") + (match.group("scheme") or "")
    if match.group("double") is not None:
        return f'{key}{separator}"{REDACTED}"'
    if match.group("single") is not None:
        return f"{key}{separator}'{REDACTED}'"
    return f"{key}{separator}{REDACTED}"


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
        # value looks like the word "Bearer".
        for pattern in _TOKENS:
            text = pattern.sub(REDACTED, text)
        text = _URL_USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
        text = _KEY_VALUE.sub(_keep_key, text)
        for pattern in self._compiled:
            text = pattern.sub(REDACTED, text)
        return text

    def value(self, value: object) -> object:
        """A JSON value with every string in it redacted, keys included; a credential-like
        key's value is replaced whole. ``VERBATIM_KEYS`` are left as they are."""
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
        # Strings only: a count under a key that merely mentions a token (a failure reason
        # such as "InvalidTokenError") stays a count.
        if isinstance(item, str) and item and _KEY_NAME.fullmatch(key):
            return REDACTED
        return self.value(item)


DEFAULT_REDACTOR: Final = Redactor()

redact: Final[Callable[[str], str]] = DEFAULT_REDACTOR.text
