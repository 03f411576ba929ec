"""Triggers: what starts a flow besides a person.

- ``ticks``: pure tick arithmetic (cron in an IANA zone, daylight saving, catch-up).
- ``executions``: pure builders of the Executions triggers create, with deterministic names
  (``cli/backfill.py`` builds a backfill's with them too).
- ``scheduler``: the schedule loop, which fires due ticks and records them in the Flow's status.
- ``webhook``: ``POST /webhooks/{namespace}/{flow}/{trigger}`` on the operator's HTTP port.
- ``upstream``: flow triggers, matched when an execution of another flow ends.
- ``resource``: watches of the objects that resource triggers name.
- ``chain``: pure; the flows that led to an Execution (its ``overture.dev/trigger-chain``
  annotation), so that flow and resource triggers cannot loop.
- ``forwarded``: pure; a webhook caller's address, behind trusted proxies too.
- ``service``: the operator-side loop that ties them to the cache and the API.

Invariant: every Execution a trigger creates has a name computed from what fired it (the tick,
the upstream execution, the object's uid and resourceVersion, the idempotency key), so a second
operator, or the same one after a restart, gets AlreadyExists instead of a second run.
"""
