"""The one error a call raises: ``CallError``, whose message is the failed attempt's message.

Every adapter (http, SMTP, PostgreSQL) translates its library's errors into it at its boundary,
naming what was tried (the URL without its query, the server, the field) and what happened.
"""

from __future__ import annotations


class CallError(Exception):
    """A call failed; ``str(error)`` says why, for a person (it becomes the attempt's message)."""
