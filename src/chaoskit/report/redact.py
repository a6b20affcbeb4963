"""Credentials and tokens never reach a shared report.

The patterns live in ``chaoskit.redaction``, which the journal applies to everything it
records. A report is redacted again as a whole when it is written, for journals recorded
before that (``chaoskit report`` on an old run) or with fewer patterns; the ``redact``
template filter remains for templates of one's own.
"""

from __future__ import annotations

from chaoskit.experiment.result import Journal
from chaoskit.redaction import DEFAULT_REDACTOR, Redactor, redact

__all__ = ["redact", "redacted"]


def redacted(journal: Journal, redactor: Redactor = DEFAULT_REDACTOR) -> Journal:
    """``journal`` with every string in it redacted."""
    cleaned = redactor.value(journal.to_json())
    assert isinstance(cleaned, dict)  # a journal encodes to a JSON object
    return Journal.from_json(cleaned)
