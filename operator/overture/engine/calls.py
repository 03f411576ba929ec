"""From a call task (``http``, ``sql``, ``notify``) to a ``StartCall`` action, and its answer back.

Like ``attempts`` for Jobs: ``call_request`` renders what one attempt sends (each templated field
named by its path when it does not render); ``observe_call`` turns the operator's answer into the
attempt's record and outputs. A call's key is the name a Job of the same attempt would have, so
it is deterministic and unique in the execution.
"""

from __future__ import annotations

from typing import Any

from overture.api import Attempt, CallAnyTask, State, to_timedelta
from overture.engine.model import CallObservation, StartCall
from overture.engine.naming import job_name
from overture.templating import SecretRefs, TemplateError, render


def call_request(task: CallAnyTask, execution: str, run_id: str, attempt: int, context: dict[str, Any]) -> StartCall:
    """The rendered request of one attempt; raises TemplateError naming the field that does not render."""
    secrets = SecretRefs()
    request = {name: _rendered(name, value, context, secrets) for name, value in task.call_fields().items()}
    return StartCall(
        key=job_name(execution, run_id, attempt),
        task_run=run_id,
        attempt=attempt,
        kind=task.type,
        request={**request, **task.literal_fields()},
        secrets=dict(secrets.refs),
        timeout_seconds=call_timeout(task),
    )


def call_timeout(task: CallAnyTask) -> float:
    return to_timedelta(task.timeout or task.default_timeout).total_seconds()


def _rendered(path: str, value: Any, context: dict[str, Any], secrets: SecretRefs) -> Any:
    if isinstance(value, str):
        try:
            return render(value, context, secrets)
        except TemplateError as exc:
            raise TemplateError(f"{path}: {exc}") from None
    if isinstance(value, dict):
        return {k: _rendered(f"{path}.{k}", v, context, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rendered(f"{path}[{i}]", v, context, secrets) for i, v in enumerate(value)]
    return value


def observe_call(attempt: Attempt, answer: CallObservation, stamp: Any) -> tuple[Attempt, dict[str, Any] | None]:
    """The attempt ended as ``answer`` says; its outputs when it succeeded."""
    if answer.ok:
        return attempt.model_copy(update={"state": State.SUCCESS, "end_date": stamp, "message": None}), dict(
            answer.outputs
        )
    return attempt.model_copy(update={"state": State.FAILED, "end_date": stamp, "message": answer.message}), None
