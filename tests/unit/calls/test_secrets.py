"""Secrets in calls: revealed only in the request, never in what the status or a log keeps."""

from __future__ import annotations

from overture.calls.perform import reveal
from overture.controller.calls import _redacted

VAR = "OVERTURE_SECRET_API_TOKEN_ABC123"


def test_reveal_fills_in_the_referenced_secrets_only() -> None:
    request = {"url": f"https://x/$({VAR})", "headers": [{"name": "A", "value": f"Bearer $({VAR})"}], "n": 3}
    assert reveal(request, {VAR: "t0ken"}) == {
        "url": "https://x/t0ken",
        "headers": [{"name": "A", "value": "Bearer t0ken"}],
        "n": 3,
    }
    # a reference to a secret the task did not name stays as written
    assert reveal("$(OVERTURE_SECRET_OTHER_FFFFFF)", {VAR: "t0ken"}) == "$(OVERTURE_SECRET_OTHER_FFFFFF)"


def test_a_message_that_echoes_a_secret_shows_stars() -> None:
    message = "GET https://x/t0ken-123 answered 404: no route t0ken-123"
    assert _redacted(message, {VAR: "t0ken-123"}) == "GET https://x/*** answered 404: no route ***"
    assert _redacted("a" * 5000, {}) == "a" * 1000
