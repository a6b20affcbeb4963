"""Credentials and tokens never reach a shared report."""

from __future__ import annotations

import re

_PATTERNS = [
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(
        r"(?i)\b(aws_secret_access_key|aws_session_token|secret|password|passwd|token|"
        r"api[_-]?key|authorization)(\s*[=:]\s*|\s+)(bearer\s+)?[^\s,;'\"&]+"
    ),
    re.compile(r"(?i)(https?://[^/\s:@]+:)[^@\s/]+@"),  # user:password@ in URLs
]


def redact(text: str) -> str:
    text = _PATTERNS[0].sub("[redacted]", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}[redacted]@", text)
