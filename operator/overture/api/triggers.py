"""Trigger declarations: what starts a flow besides a person.

Each trigger has an ``id`` unique in its flow; the id is part of the deterministic names of the
Executions it creates, which is what makes a schedule tick fire once even across restarts.
``inputs`` values are templates rendered with the ``trigger`` context (``{{ trigger.date }}``,
``{{ trigger.body.x }}``, ``{{ trigger.outputs.t.k }}``, ``{{ trigger.object.metadata.name }}``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, get_args

from pydantic import Field, JsonValue

from overture.api.common import API_VERSION_PATTERN, KIND_PATTERN, Duration, Model, ResourceId, SecretKeyRef
from overture.api.states import State


class TriggerType(StrEnum):
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    FLOW = "flow"
    RESOURCE = "resource"


class CatchUp(StrEnum):
    """What a schedule does with ticks missed while the operator was down or the flow suspended."""

    ALL = "all"  # one execution per missed tick, up to catchUpLimit
    LAST = "last"  # only the most recent missed tick
    NONE = "none"  # none; wait for the next tick


class TriggerBase(Model):
    id: ResourceId
    description: str | None = None
    disabled: bool = False
    inputs: dict[str, JsonValue] = Field(
        default_factory=dict, description="Inputs of the execution; string values are templates"
    )
    condition: str | None = Field(
        default=None,
        description=(
            "Template read with what fired it ({{ trigger.body.action == 'push' }}, {{ trigger.date | date('%a')"
            " not in ['Sat', 'Sun'] }}); false: this event or tick starts nothing"
        ),
    )


class ScheduleTrigger(TriggerBase):
    type: Literal["schedule"]
    cron: str = Field(description="5 fields, or @hourly, @daily, @weekly, @monthly, @yearly")
    timezone: str = Field(default="UTC", description="IANA zone, e.g. Europe/Paris")
    catch_up: CatchUp = CatchUp.LAST
    catch_up_limit: int = Field(default=100, ge=1, le=10000, description="Most missed ticks run at once")


class WebhookTrigger(TriggerBase):
    type: Literal["webhook"]
    key_secret_ref: SecretKeyRef = Field(description="Secret key holding the webhook key callers must send")
    rate_limit: int = Field(default=60, ge=1, description="Requests per minute accepted for this trigger")


class UpstreamFlow(Model):
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = Field(default=None, description="Defaults to this flow's namespace")


class Require(StrEnum):
    ANY = "any"  # each listed flow's ending fires on its own
    ALL = "all"  # fires once every listed flow ended in states within `within`


class FlowTrigger(TriggerBase):
    type: Literal["flow"]
    flows: tuple[UpstreamFlow, ...] = Field(min_length=1)
    states: tuple[State, ...] = Field(default=(State.SUCCESS,), min_length=1)
    labels: dict[str, str] = Field(default_factory=dict, description="Upstream execution must carry these")
    require: Require = Field(
        default=Require.ANY,
        description=(
            "any: each listed flow's ending fires; all: fires when every listed flow has ended in states within"
            " `within`, each since this trigger last fired (Kestra's preconditions, Airflow's assets)"
        ),
    )
    within: Duration = Field(default="24h", description="With require: all, how recent every ending must be")


class ResourceEvent(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


class ResourceTrigger(TriggerBase):
    type: Literal["resource"]
    api_version: str = Field(
        pattern=API_VERSION_PATTERN, max_length=253, description="e.g. v1 or batch/v1 (group/version)"
    )
    kind: str = Field(pattern=KIND_PATTERN, max_length=63, description="e.g. ConfigMap")
    match_labels: dict[str, str] = Field(default_factory=dict)
    events: tuple[ResourceEvent, ...] = Field(default=(ResourceEvent.CREATED,), min_length=1)


AnyTrigger = ScheduleTrigger | WebhookTrigger | FlowTrigger | ResourceTrigger
Trigger = Annotated[AnyTrigger, Field(discriminator="type")]
TRIGGER_MODELS: tuple[type[TriggerBase], ...] = get_args(AnyTrigger)
