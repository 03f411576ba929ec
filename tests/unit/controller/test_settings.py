"""The operator's settings, read from the environment once (the chart's interface)."""

from __future__ import annotations

import pytest

from overture.controller.settings import ControllerSettings, OperatorSettings


def test_an_empty_environment_gives_the_defaults() -> None:
    settings = OperatorSettings.from_env({})
    assert settings == OperatorSettings(controller=ControllerSettings.from_env({}))
    assert settings.controller.workers == 64
    assert settings.controller.job_ttl_seconds == 86400
    assert settings.controller.artifacts is None
    assert (settings.namespaces, settings.lease_namespace, settings.identity) == ((None,), "default", None)
    assert settings.leader_election


def test_each_variable_reaches_its_setting() -> None:
    settings = OperatorSettings.from_env(
        {
            "OVERTURE_WORKERS": "8",
            "OVERTURE_JOB_TTL_SECONDS": "",
            "OVERTURE_TASK_EVENTS": "Yes",
            "OVERTURE_ALLOW_SECONDS_CRON": "1",
            "OVERTURE_ALLOW_CROSS_NAMESPACE_FLOW_TRIGGERS": "true",
            "OVERTURE_NAMESPACES": "a,b",
            "OVERTURE_LEADER_ELECTION": "FALSE",
            "OVERTURE_TRIGGER_CHAIN_LIMIT": "3",
            "OVERTURE_WEBHOOK_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7",
            "POD_NAMESPACE": "overture",
            "POD_NAME": "overture-7d9-x",
        }
    )
    assert settings.controller.workers == 8
    assert settings.controller.job_ttl_seconds is None  # "" keeps Jobs
    assert settings.controller.task_events
    assert settings.allow_seconds_cron
    assert settings.triggers.allow_cross_namespace_flow_triggers
    assert settings.triggers.chain_limit == 3
    assert [str(n) for n in settings.triggers.trusted_proxies] == ["10.0.0.0/8", "192.0.2.7/32"]
    assert settings.namespaces == ("a", "b")
    assert not settings.leader_election
    assert (settings.lease_namespace, settings.identity) == ("overture", "overture-7d9-x")


def test_explicit_lease_settings_win_over_the_pods_own() -> None:
    env = {"POD_NAMESPACE": "p", "POD_NAME": "pod", "OVERTURE_LEASE_NAMESPACE": "l", "OVERTURE_IDENTITY": "me"}
    settings = OperatorSettings.from_env(env)
    assert (settings.lease_namespace, settings.identity) == ("l", "me")


def test_the_task_runtime_is_a_managed_job_unless_job_or_pod_is_asked_for() -> None:
    assert ControllerSettings().task_runtime == "managed-job"
    assert ControllerSettings.from_env({}).task_runtime == "managed-job"
    assert ControllerSettings.from_env({"OVERTURE_TASK_RUNTIME": ""}).task_runtime == "managed-job"
    assert ControllerSettings.from_env({"OVERTURE_TASK_RUNTIME": "Pod"}).task_runtime == "pod"
    assert ControllerSettings.from_env({"OVERTURE_TASK_RUNTIME": "job"}).task_runtime == "job"
    with pytest.raises(ValueError, match="OVERTURE_TASK_RUNTIME='pods': set managed-job"):
        ControllerSettings.from_env({"OVERTURE_TASK_RUNTIME": "pods"})
