"""``{{ secret('db', 'pw') }}`` inside an env *value* renders ``$(OVERTURE_SECRET_...)``, which the
kubelet expands only if that variable is defined *earlier* in the container's env list. The engine
appended the generated variables last, so ``DB_URL=postgres://u:$(OVERTURE_SECRET_DB_PW_...)@h``
reached the task as written (seen on the real node by tests/e2e/test_secrets.py). Now they come
right after the outputs path and before the task's own env, which keeps its order; the secret's
value still never enters the spec.
"""

from __future__ import annotations

from overture.api import parse_flow
from overture.engine.attempts import job_request
from overture.engine.outputs import OUTPUTS_ENV

FLOW = {
    "apiVersion": "overture.dev/v1alpha1",
    "kind": "Flow",
    "metadata": {"name": "uses-db", "namespace": "ns"},
    "spec": {
        "tasks": [
            {
                "id": "connect",
                "type": "shell",
                "commands": ["true"],
                "env": [{"name": "DB_URL", "value": "postgres://app:{{ secret('db', 'pw') }}@db/app"}],
            }
        ]
    },
}


def test_the_value_is_a_reference_not_the_secret() -> None:
    request = job_request(parse_flow(FLOW).spec.tasks[0], "uses-db-1", "connect", 1, {})
    env = {e.name: e for e in request.env}
    generated = [n for n in env if n.startswith("OVERTURE_SECRET_")]
    assert len(generated) == 1
    assert env["DB_URL"].value == f"postgres://app:$({generated[0]})@db/app"
    assert (env[generated[0]].secret_name, env[generated[0]].secret_key) == ("db", "pw")


def test_the_secret_variable_comes_before_the_value_that_uses_it() -> None:
    request = job_request(parse_flow(FLOW).spec.tasks[0], "uses-db-1", "connect", 1, {})
    names = [e.name for e in request.env]
    generated = next(n for n in names if n.startswith("OVERTURE_SECRET_"))
    assert names.index(generated) < names.index("DB_URL")


def test_the_outputs_path_first_then_the_secrets_then_the_tasks_env_in_its_order() -> None:
    env = [
        {"name": "USER", "value": "app"},
        {"name": "DB_URL", "value": "postgres://$(USER):{{ secret('db', 'pw') }}@db/app"},
        {"name": "TOKEN", "secretKeyRef": {"name": "api", "key": "token"}},
        {"name": "API", "value": "https://{{ secret('api', 'host') }}/?t=$(TOKEN)"},
    ]
    task = {"id": "connect", "type": "shell", "commands": ["echo {{ secret('log', 'key') }}"], "env": env}
    flow = parse_flow({**FLOW, "spec": {"tasks": [task]}})
    request = job_request(flow.spec.tasks[0], "uses-db-1", "connect", 1, {})
    names = [e.name for e in request.env]
    generated = [n for n in names if n.startswith("OVERTURE_SECRET_")]
    assert len(generated) == 3  # the command's secret too
    assert names == [OUTPUTS_ENV, *sorted(generated), "USER", "DB_URL", "TOKEN", "API"]
    refs = {(e.secret_name, e.secret_key, e.value) for e in request.env if e.name in generated}
    assert refs == {("db", "pw", None), ("api", "host", None), ("log", "key", None)}  # references, no values
