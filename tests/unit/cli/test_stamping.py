"""The CLI stamps its user's name on the Executions it creates (overture run, replay, backfill all
go through ``ClusterClient.create_execution``), asking the API server who it is once."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from overture.cli.client import ClusterClient, Target
from overture.triggers.executions import manual_execution


class Reviews:
    def __init__(self, answer: dict[str, Any] | ApiException) -> None:
        self.answer = answer
        self.asked = 0

    def create_self_subject_review(self, body: dict[str, Any], **_: Any) -> dict[str, Any]:
        assert body == {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        self.asked += 1
        if isinstance(self.answer, ApiException):
            raise self.answer
        return self.answer


class Executions:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def create_namespaced_custom_object(self, *args: Any, **_: Any) -> dict[str, Any]:
        self.created.append(args[-1])
        return args[-1]


def _cluster(answer: dict[str, Any] | ApiException) -> tuple[ClusterClient, Reviews, Executions]:
    cluster = ClusterClient(client.ApiClient(), Target("kubeconfig", "ctx", "team"))
    reviews, executions = Reviews(answer), Executions()
    cluster.authentication, cluster.custom = reviews, executions  # type: ignore[assignment]
    return cluster, reviews, executions


def test_run_stamps_the_user_the_api_server_names_once() -> None:
    cluster, reviews, executions = _cluster({"status": {"userInfo": {"username": "alice"}}})
    for name in ("etl-1", "etl-2"):
        cluster.create_execution(manual_execution(name, "team", "etl", {}))
    assert [e["spec"]["requestedBy"] for e in executions.created] == ["alice", "alice"]
    assert reviews.asked == 1


def test_a_server_without_self_subject_reviews_gets_no_stamp() -> None:
    cluster, _, executions = _cluster(ApiException(status=404, reason="Not Found"))
    cluster.create_execution(manual_execution("etl-1", "team", "etl", {}))
    assert "requestedBy" not in executions.created[0]["spec"]
