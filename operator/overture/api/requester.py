"""Who asked for an Execution: ``spec.requestedBy``, stamped by whoever creates it. Pure.

Every client that creates Executions writes its own Kubernetes user name there: ``overture run``,
``replay`` and ``backfill`` the user of their kubeconfig, the UI the person it acts for (their
token, or the user it impersonates), the operator its own ServiceAccount on the executions its
triggers and subflow tasks start. Each finds that name with a SelfSubjectReview (``kubectl auth
whoami``), which every authenticated user may create.

The stamp is a claim until the API server checks it: the chart's ValidatingAdmissionPolicy
(``charts/overture/templates/admission-policy.yaml``) refuses an Execution whose
``spec.requestedBy`` is not the user creating it, one that changes it (or ``spec.trigger``,
``spec.parent``) later, and one whose trigger type is in ``OPERATOR_TRIGGERS`` unless its creator
is the operator. A person may start ``PERSON_TRIGGERS`` runs only: a forged ``trigger: {type:
schedule}`` is refused, so a schedule, webhook, flow, resource or subflow trigger in a status is
something the operator did.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from overture.api.execution import TriggerKind

SELF_SUBJECT_REVIEW_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
SELF_SUBJECT_REVIEW: dict[str, Any] = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}

# What a person may start (the CLI's and the UI's run, replay and backfill); the chart's policy
# lists the same (tests/unit/deploy checks it).
PERSON_TRIGGERS = frozenset({TriggerKind.MANUAL, TriggerKind.BACKFILL, TriggerKind.REPLAY})
OPERATOR_TRIGGERS = frozenset(TriggerKind) - PERSON_TRIGGERS


class UnknownRequesterError(ValueError):
    """The API server's SelfSubjectReview named no user; the message says what came back."""


def username_of(review: Mapping[str, Any]) -> str:
    """The user name in a SelfSubjectReview answer (``status.userInfo.username``)."""
    user = ((review.get("status") or {}).get("userInfo") or {}).get("username")
    if not isinstance(user, str) or not user:
        raise UnknownRequesterError(
            f"the API server's SelfSubjectReview named no user (status: {review.get('status')!r}); "
            "Executions need spec.requestedBy, your user name (kubectl auth whoami)"
        )
    return user


def with_requester(manifest: Mapping[str, Any], username: str) -> dict[str, Any]:
    """A copy of the Execution ``manifest`` with ``spec.requestedBy`` set to ``username``."""
    stamped = copy.deepcopy(dict(manifest))
    stamped.setdefault("spec", {})["requestedBy"] = username
    return stamped
