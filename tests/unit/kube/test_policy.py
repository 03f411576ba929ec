"""A namespace's task policy: which ServiceAccounts its flows may name, and how restricted
their pods are (issue 14, least privilege)."""

from __future__ import annotations

import pytest

from overture.engine import CreateJob
from overture.kube.jobs import build_job
from overture.kube.policy import PolicyError, from_namespace

REQUEST = CreateJob(name="ex-a-1", task_run="a", task_id="a", attempt=1, image="busybox", command=("true",))


def _namespace(**annotations: str) -> dict[str, object]:
    return {"metadata": {"name": "team", "annotations": annotations}}


def _job(namespace: dict[str, object], account: str | None = None) -> dict[str, object]:
    policy = from_namespace(namespace)
    return build_job(
        REQUEST, namespace="team", flow="f", execution="ex", execution_uid="u", service_account=account, policy=policy
    )


def test_by_default_a_pod_is_restricted_and_has_no_token() -> None:
    spec = _job(_namespace())["spec"]["template"]["spec"]  # type: ignore[index]
    assert spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in spec
    assert spec["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"},
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
    }
    assert spec["containers"][0]["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


@pytest.mark.parametrize("annotations", [{}, {"overture.dev/service-accounts": "runner, loader"}])
def test_an_account_the_namespace_does_not_allow_is_refused_naming_the_fix(annotations: dict[str, str]) -> None:
    with pytest.raises(PolicyError) as refused:
        _job(_namespace(**annotations), "deployer")
    message = str(refused.value)
    assert message.startswith("spec.serviceAccountName: 'deployer' is not allowed in namespace team")
    assert "overture.dev/service-accounts" in message


def test_an_allowed_account_runs_with_its_token() -> None:
    spec = _job(_namespace(**{"overture.dev/service-accounts": "runner,loader"}), "loader")["spec"]["template"]["spec"]  # type: ignore[index]
    assert spec["serviceAccountName"] == "loader"
    assert "automountServiceAccountToken" not in spec


def test_run_as_root_keeps_the_images_user_and_the_rest_of_the_restrictions() -> None:
    spec = _job(_namespace(**{"overture.dev/run-as-root": "true"}))["spec"]["template"]["spec"]  # type: ignore[index]
    assert spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
