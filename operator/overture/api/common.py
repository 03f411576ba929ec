"""Building blocks shared by the Flow and Execution models.

Invariants:
- Every model is frozen and forbids unknown fields, so a typo in a YAML file is an error
  that names the field instead of a silently ignored setting.
- Python attribute names are snake_case; the wire format (YAML, JSON, the CRD) is camelCase.
  Always dump with ``by_alias=True`` (``to_wire`` does it).
- Durations stay strings on the wire (``10s``, ``1h30m``, ``PT10S``) and are parsed on use with
  ``to_timedelta``: a snapshot of a spec round-trips byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, ClassVar, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from overture.api.times import Time

API_GROUP = "overture.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"

LABEL_FLOW = f"{API_GROUP}/flow"
LABEL_EXECUTION = f"{API_GROUP}/execution"
LABEL_TASK = f"{API_GROUP}/task"
LABEL_ATTEMPT = f"{API_GROUP}/attempt"
LABEL_ITERATION = f"{API_GROUP}/iteration"
LABEL_TRIGGER = f"{API_GROUP}/trigger"
LABEL_BACKFILL = f"{API_GROUP}/backfill"


def attempt_of_pod(metadata: Mapping[str, Any]) -> str | None:
    """The name of the task attempt a pod runs (its Job's name, or, a pod the operator made
    itself in the ``pod`` task runtime, the pod's own); None for a pod that runs no task."""
    labels = metadata.get("labels") or {}
    job = labels.get("job-name") or labels.get("batch.kubernetes.io/job-name")
    if job is None and LABEL_EXECUTION in labels:
        job = metadata.get("name")
    return str(job) if job is not None else None


class Model(BaseModel):
    """Base of every API model: frozen, strict about unknown fields, camelCase on the wire.

    Each model's validator is built when it is first used (``defer_build``), not when its class
    is made: building all of them took a fifth of ``overture validate``'s start-up, which needs the
    Flow's alone. A process that runs for long builds them as it starts (``build_models``), all
    but the ``nested_only`` ones.
    """

    # Only ever validated, built or written as part of another model (a Flow, an Execution), never
    # on its own: its validator would repeat the whole task union, and nothing would call it.
    nested_only: ClassVar[bool] = False

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        validate_default=False,
        defer_build=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase, JSON-compatible form, without fields left at their defaults.

        Parsing the result gives an equal model: defaults come back from the model.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def build_models() -> None:
    """Build every model's validator and serializer now, as if none deferred it.

    The operator and the UI server call this as they start, so that no first use builds one
    later: inside a tenant's CPU budget (a reconcile's ``step`` runs on one), or in two pool
    threads at once. Commands that run once (``overture validate``) build what they use.

    A ``nested_only`` model is left to its first use of its own (there is none in the operator):
    the flowable tasks' validators would each hold the whole task union again, ~6 MiB of the
    operator's memory for the seven of them (benchmarks/README.md, section 7).
    """
    pending: list[type[Model]] = [Model]
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        if not model.nested_only:
            model.model_rebuild()


# --- durations ---------------------------------------------------------------------------

_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$")
_GO_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_ISO_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

DURATION_HINT = 'use e.g. "10s", "5m", "1h30m" or ISO-8601 "PT10S"'


@lru_cache(maxsize=1024)
def to_timedelta(text: str) -> timedelta:
    """Parse a Kubernetes-style (``1h30m``) or ISO-8601 (``PT1H30M``) duration.

    Raises ValueError with a message a person can act on.
    """
    value = text.strip()
    try:
        if value and _GO_DURATION.match(value):
            return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in _GO_PART.findall(value)))
        iso = _ISO_DURATION.match(value.upper())
        if value and value.upper() not in ("P", "PT") and iso and not value.upper().endswith("T"):
            parts = {k: float(v) for k, v in iso.groupdict().items() if v}
            return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration; at most 999999999 days") from None
    raise ValueError(f"{text!r} is not a duration; {DURATION_HINT}")


def _check_duration(text: str) -> str:
    to_timedelta(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(json_schema_extra={"x-overture-duration": True}),
]


def tag_of(model: type[BaseModel]) -> str:
    """The ``type`` a model of a tagged union stands for (its ``Literal`` type), e.g. ``shell``."""
    annotation = model.model_fields["type"].annotation
    return str(get_args(annotation)[0])


def format_duration(delta: timedelta) -> str:
    """Render a timedelta the way Kubernetes does (``1h2m3s``), for status and printer columns."""
    total = int(delta.total_seconds())
    if total < 0:
        total = 0
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if seconds or not out:
        out += f"{seconds}s"
    return out


# --- names ---------------------------------------------------------------------------------

# Task and trigger ids end up in Job names, Execution names and label values. Lowercase letters,
# digits, '-' and '_' keep them valid there once '_' becomes '-'. An id with '-' is read in
# templates as outputs['load-data']; ids with '_' read as outputs.load_data.
ID_PATTERN = r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$"
ID_MAX_LENGTH = 63
ID_HINT = "use lowercase letters, digits, '-' or '_', starting and ending with a letter or digit"

# Input ids are read in templates as {{ inputs.name }}, so they must be identifiers.
INPUT_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# group/version as Kubernetes writes them (a DNS subdomain, then v1, v1beta2...), and a kind: nothing
# else may reach the URL a resource trigger's watch is made of ("../api/v1" read Secrets in full)
API_VERSION_PATTERN = (
    r"^(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?v[0-9]+(?:(?:alpha|beta)[0-9]+)?$"
)
KIND_PATTERN = r"^[A-Z][A-Za-z0-9]*$"

ResourceId = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=ID_MAX_LENGTH)]

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def is_dns_subdomain(name: str) -> bool:
    return len(name) <= 253 and bool(DNS_SUBDOMAIN.match(name))


def object_name_part(identifier: str) -> str:
    """The form of a task or trigger id used inside Kubernetes object names."""
    return identifier.replace("_", "-")


# --- conditions ----------------------------------------------------------------------------


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(Model):
    """A Kubernetes-style condition, keyed by ``type`` in a list."""

    type: str
    status: ConditionStatus
    reason: str = Field(description="CamelCase constant, e.g. Invalid, Running, Succeeded")
    message: str = ""
    last_transition_time: Time = Field(description="RFC 3339 time the status last changed")
    observed_generation: int | None = None


def with_condition(conditions: tuple[Condition, ...], new: Condition) -> tuple[Condition, ...]:
    """Replace the condition of the same type, keeping ``lastTransitionTime`` when status is unchanged."""
    out: list[Condition] = []
    replaced = False
    for cond in conditions:
        if cond.type == new.type:
            replaced = True
            if cond.status == new.status:
                new = new.model_copy(update={"last_transition_time": cond.last_transition_time})
            out.append(new)
        else:
            out.append(cond)
    if not replaced:
        out.append(new)
    return tuple(out)


def find_condition(conditions: tuple[Condition, ...], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)


# --- references ----------------------------------------------------------------------------


class SecretKeyRef(Model):
    """A key of a Secret in the flow's namespace. The value is never read by the operator."""

    name: str = Field(min_length=1, max_length=253)
    key: str = Field(min_length=1, max_length=253)


class ObjectRef(Model):
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(
        default=None, description="Defaults to the namespace of the object that holds the reference"
    )
