"""Flow documents shared by the API, validation and CRD tests, as decoded YAML (plain dicts)."""

from __future__ import annotations

import copy
from typing import Any

from overture.api import Flow, parse_flow


def flow_doc(spec: dict[str, Any], name: str = "test-flow", namespace: str | None = "data") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": "overture.dev/v1alpha1", "kind": "Flow", "metadata": metadata, "spec": spec}


def shell(task_id: str, *commands: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "type": "shell", "commands": list(commands or ("echo " + task_id,)), **fields}


def parse_spec(spec: dict[str, Any], **meta: Any) -> Flow:
    return parse_flow(flow_doc(spec, **meta))


_COMPLEX_SPEC: dict[str, Any] = {
    "description": "Every task type, trigger type and input type at once.",
    "inputs": [
        {"id": "name", "type": "STRING", "required": False, "default": "world", "pattern": "[a-z]+", "max": 20},
        {"id": "count", "type": "INT", "min": 1, "max": 10, "default": 3},
        {"id": "ratio", "type": "FLOAT", "required": False},
        {"id": "dry_run", "type": "BOOLEAN", "default": False},
        {"id": "mode", "type": "SELECT", "values": ["append", "replace"], "default": "append"},
        {"id": "day", "type": "DATE", "required": False},
        {"id": "at", "type": "DATETIME", "required": False},
        {"id": "wait", "type": "DURATION", "default": "5m"},
        {"id": "options", "type": "JSON", "required": False},
        {"id": "files", "type": "ARRAY", "itemType": "STRING", "required": False},
    ],
    "variables": {"bucket": "raw", "limits": {"rows": 1000}},
    "labels": {"team": "data"},
    "concurrency": {"limit": 2, "behavior": "QUEUE"},
    "serviceAccountName": "data-runner",
    "taskDefaults": [{"type": "python", "values": {"image": "python:3.12-slim", "timeout": "10m"}}],
    "timeout": "1h30m",
    "retention": {"keep": 10, "ttl": "7d"},
    "tasks": [
        {
            "id": "extract",
            "type": "python",
            "script": "import json\nprint('{{ inputs.name }} {{ vars.bucket }}')\n",
            "retry": {"backoff": "exponential", "maxAttempts": 3, "interval": "10s", "maxInterval": "1m"},
            "env": [
                {"name": "TOKEN", "secretKeyRef": {"name": "api", "key": "token"}},
                {"name": "MODE", "value": "{{ inputs.mode }}"},
            ],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        },
        shell("list-files", "echo '{\"files\": [1, 2]}' > /overture/outputs.json", dependsOn=["extract"]),
        {
            "id": "per-file",
            "type": "each",
            "dependsOn": ["list-files"],
            "items": "{{ outputs['list-files'].files | json }}",
            "concurrencyLimit": 2,
            "tasks": [shell("process", "echo {{ taskrun.value }} {{ secret('db', 'password') }}")],
        },
        {
            "id": "both",
            "type": "parallel",
            "dependsOn": ["extract"],
            "tasks": [shell("left"), shell("right", dependsOn=["left"])],
        },
        {
            "id": "steps",
            "type": "sequential",
            "tasks": [{"id": "date", "type": "container", "image": "busybox:1.36", "command": ["date"]}],
        },
        {
            "id": "check",
            "type": "if",
            "condition": "{{ inputs.dry_run }}",
            "then": [{"id": "stop", "type": "fail", "message": "dry run for {{ inputs.day }}"}],
            "else": [shell("go", "echo {{ outputs.extract.rows }}")],
        },
        {
            "id": "pick",
            "type": "switch",
            "value": "{{ inputs.mode }}",
            "cases": [{"value": "append", "tasks": [shell("append")]}, {"value": "replace", "tasks": [shell("swap")]}],
            "defaults": [shell("other")],
        },
        {
            "id": "approve",
            "type": "pause",
            "delay": "PT1H",
            "onResume": [{"id": "ok", "type": "BOOLEAN"}],
            "runIf": "{{ inputs.count > 1 }}",
        },
        {
            "id": "child",
            "type": "subflow",
            "flowRef": {"name": "downstream"},
            "inputs": {"day": "{{ inputs.day }}", "n": 3},
            "allowFailure": True,
        },
    ],
    "errors": [shell("alert", "echo {{ error.taskId }}")],
    "finally": [shell("cleanup", disabled=False)],
    "triggers": [
        {
            "id": "nightly",
            "type": "schedule",
            "cron": "0 2 * * *",
            "timezone": "Europe/Paris",
            "catchUp": "all",
            "catchUpLimit": 7,
            "inputs": {"day": "{{ trigger.date | date('%Y-%m-%d') }}"},
        },
        {"id": "hourly", "type": "schedule", "cron": "@hourly"},
        {"id": "on-upload", "type": "webhook", "keySecretRef": {"name": "hooks", "key": "ingest"}, "rateLimit": 10},
        {"id": "after-raw", "type": "flow", "flows": [{"name": "raw-load"}], "states": ["SUCCESS", "WARNING"]},
        {
            "id": "on-config",
            "type": "resource",
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "matchLabels": {"app": "x"},
            "events": ["created", "updated"],
        },
    ],
}


def complex_doc() -> dict[str, Any]:
    """A valid flow using every task type, trigger type and input type (a fresh copy)."""
    return flow_doc(copy.deepcopy(_COMPLEX_SPEC), name="everything")
