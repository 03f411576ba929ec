"""From a runnable task declaration to a ``CreateJob`` action, and from a Job back to an attempt.

Build and observe are separate functions (as Tekton's pod package does): ``job_request``
renders the container a task attempt runs; ``observe_attempt`` reads what its Job did.
"""

from __future__ import annotations

from typing import Any

from overture.api import (
    Attempt,
    ContainerTask,
    PythonTask,
    RunnableAnyTask,
    ShellTask,
    State,
    StoredOutputs,
    to_timedelta,
)
from overture.engine.model import CreateJob, EnvValue, JobObservation, JobPhase
from overture.engine.naming import job_name
from overture.engine.outputs import OUTPUTS_ENV, OUTPUTS_PATH, OutputsError, parse_outputs, read_manifest
from overture.templating import (
    KubeletText,
    Placement,
    SecretRefs,
    ShellScript,
    TemplateError,
    kubelet_escaped,
    placing,
    render,
)

# Why a pod does not start that a person should see at once (a pod on its way, ContainerCreating, is not).
NOT_STARTING = frozenset(
    {
        "FailedCreate",  # the Job's pod was refused: quota, Pod Security, a missing ServiceAccount
        "Unschedulable",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",  # e.g. a Secret or key that env names does not exist
        "CreateContainerError",
    }
)


NOT_STARTED = "not started:"  # an attempt's message while it waits for a reason in NOT_STARTING


def job_request(task: RunnableAnyTask, execution: str, run_id: str, attempt: int, context: dict[str, Any]) -> CreateJob:
    """The rendered container of one attempt; raises TemplateError naming the bad field."""
    secrets = SecretRefs()
    args: tuple[str, ...] = ()
    command: tuple[str, ...]
    values: dict[str, str] = {}
    if isinstance(task, ShellTask):
        shell = ShellScript()
        lines = [_field(f"commands[{i}]", c, context, secrets, shell) for i, c in enumerate(task.commands)]
        command = ("/bin/sh", "-ec", shell.finish("\n".join(lines)))
        values = shell.env
    elif isinstance(task, PythonTask):
        command = ("python3", "-c", _text("script", task.script, context, secrets))
    else:
        assert isinstance(task, ContainerTask)
        command = tuple(_text(f"command[{i}]", c, context, secrets) for i, c in enumerate(task.command or ()))
        args = tuple(_text(f"args[{i}]", a, context, secrets) for i, a in enumerate(task.args or ()))
    own: list[EnvValue] = []
    for i, var in enumerate(task.env):
        if var.secret_key_ref is not None:
            own.append(EnvValue(var.name, secret_name=var.secret_key_ref.name, secret_key=var.secret_key_ref.key))
        else:
            own.append(EnvValue(var.name, value=_text(f"env[{i}].value", var.value or "", context, secrets)))
    referenced = [EnvValue(name, secret_name=s, secret_key=k) for name, (s, k) in sorted(secrets.refs.items())]
    # The outputs path first, so a task's own env may override it; then the secrets that templates
    # referenced, as Kubernetes expands $(VAR) in an env value only when VAR is defined earlier;
    # last the values a shell script reads from env, escaped so that the kubelet expands nothing.
    placed = [EnvValue(name, value=kubelet_escaped(value)) for name, value in values.items()]
    env = (EnvValue(OUTPUTS_ENV, value=OUTPUTS_PATH), *referenced, *own, *placed)
    image = task.image or task.default_image or ""
    resources = {}
    if task.resources is not None:
        resources = {
            k: dict(v) for k, v in (("requests", task.resources.requests), ("limits", task.resources.limits)) if v
        }
    iteration = run_id[run_id.index("[") :] if "[" in run_id else None
    input_files = {
        path: _field(f"inputFiles.{path}", value, context, secrets) for path, value in task.input_files.items()
    }
    return CreateJob(
        name=job_name(execution, run_id, attempt),
        task_run=run_id,
        task_id=task.id,
        attempt=attempt,
        image=image,
        command=command,
        args=args,
        env=env,
        resources=resources,
        image_pull_policy=task.image_pull_policy,
        timeout_seconds=int(to_timedelta(task.timeout).total_seconds()) if task.timeout else None,
        iteration=iteration,
        input_files=input_files,
        output_files=tuple(task.output_files),
        outputs_from=dict(task.outputs_from),
    )


def _text(name: str, template: str, context: dict[str, Any], secrets: SecretRefs) -> str:
    """A field the kubelet reads (a command, an arg, an env value): its values escaped for it."""
    kubelet = KubeletText()
    return kubelet.finish(_field(name, template, context, secrets, kubelet))


def _field(
    name: str, template: str, context: dict[str, Any], secrets: SecretRefs, placement: Placement | None = None
) -> str:
    try:
        with placing(placement):
            return render(template, context, secrets)
    except TemplateError as exc:
        raise TemplateError(f"{name}: {exc}") from None


def observe_attempt(attempt: Attempt, job: JobObservation) -> tuple[Attempt, dict[str, Any] | StoredOutputs | None]:
    """The attempt updated from its Job, and the outputs when it succeeded (or where they are stored)."""
    changes: dict[str, Any] = {}
    if job.pod and job.pod != attempt.pod:
        changes["pod"] = job.pod
    if job.start and job.start != attempt.start_date:
        changes["start_date"] = job.start
    outputs: dict[str, Any] | StoredOutputs | None = None
    manifest = read_manifest(job.termination_message)
    if job.phase == JobPhase.SUCCEEDED and (attempt.message or "").startswith(NOT_STARTED):
        changes["message"] = None  # it did start: why it once waited is no longer true
    if job.phase in (JobPhase.PENDING, JobPhase.RUNNING):
        if attempt.state != State.RUNNING and job.phase == JobPhase.RUNNING:
            changes["state"] = State.RUNNING
        stuck = f"{NOT_STARTED} {job.reason}: {job.message or ''}".strip(": ") if job.reason in NOT_STARTING else None
        if stuck != attempt.message and (stuck is not None or job.phase == JobPhase.RUNNING):
            changes["message"] = stuck
    elif job.phase == JobPhase.SUCCEEDED and manifest is not None:
        if manifest.outputs_size is not None:
            outputs = StoredOutputs(job=job.name, size=manifest.outputs_size)
        else:
            outputs = manifest.outputs or {}
        changes.update(state=State.SUCCESS, exit_code=job.exit_code if job.exit_code is not None else 0)
        changes["end_date"] = job.end
    elif job.phase == JobPhase.SUCCEEDED:
        try:
            outputs = parse_outputs(job.termination_message)
            changes.update(state=State.SUCCESS, exit_code=job.exit_code if job.exit_code is not None else 0)
        except OutputsError as exc:
            changes.update(state=State.FAILED, exit_code=job.exit_code, message=str(exc))
        changes["end_date"] = job.end
    else:
        changes.update(state=State.FAILED, exit_code=job.exit_code, end_date=job.end, message=failure_message(job))
    return (attempt.model_copy(update=changes) if changes else attempt), outputs


NO_REASON = "the pod gave no reason, exit code or message"


def failure_message(job: JobObservation) -> str:
    """What a person needs first: the reason, the exit code, and where the task's log is.

    Never the log itself, nor the termination message a failed task left: the status and Events
    are read by people who may not read the pod's log (a task prints its secrets as it likes), so
    the log is read with the reader's own rights (``kubectl logs``, ``overture logs``). The Job's
    own message (a deadline, a pod that could not be made) is the Job controller's words: kept."""
    parts: list[str] = []
    if job.reason == "DeadlineExceeded":
        parts.append("timed out (its activeDeadlineSeconds passed)")
    elif job.reason:
        parts.append(job.reason)
    if job.exit_code is not None:
        parts.append(f"exit code {job.exit_code}")
    head = ", ".join(parts)  # not "failed": every reader already says it failed ("Task a failed: ...")
    if job.exit_code is not None:
        manifest = read_manifest(job.termination_message)
        wrapper = manifest.error if manifest is not None else None  # the wrapper's own words, not the log
        pointer = f"its log: {job.log_at or f'kubectl logs job/{job.name}'}"
        return f"{head}: {wrapper}; {pointer}" if wrapper else f"{head}; {pointer}"
    tail = (job.message or "").strip()
    if len(tail) > 1000:
        tail = tail[:1000] + "..."
    if head and tail:
        return f"{head}: {tail}"
    return head or tail or NO_REASON
