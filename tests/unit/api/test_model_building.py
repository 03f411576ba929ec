"""Models build their validators on first use (``defer_build``); ``build_models`` builds them all but
the ``nested_only`` ones, which parsing and writing Flows and Executions never build."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

from overture.api import Model, build_models


def every_model(base: type[Model] = Model) -> Iterator[type[Model]]:
    for model in base.__subclasses__():
        yield model
        yield from every_model(model)


def test_importing_the_api_builds_no_validator() -> None:
    # In a fresh interpreter: this one's tests have used most models already.
    script = (
        "from overture.api import Model\n"
        "def every(base):\n"
        "    for model in base.__subclasses__():\n"
        "        yield model\n"
        "        yield from every(model)\n"
        "print(sorted(m.__name__ for m in every(Model) if m.__pydantic_complete__))"
    )
    built = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert built.stdout.strip() == "[]"


def test_build_models_builds_every_model_but_the_nested_only() -> None:
    build_models()
    models = list(every_model())
    assert len(models) > 50
    assert [m.__name__ for m in models if not m.nested_only and not m.__pydantic_complete__] == []
    nested = sorted(m.__name__ for m in models if m.nested_only)
    assert nested == [
        "EachTask",
        "FlowableBase",
        "IfTask",
        "ParallelTask",
        "SequentialTask",
        "SwitchCase",
        "SwitchTask",
    ]


FLOWABLES = """
apiVersion: overture.dev/v1alpha1
kind: Flow
metadata: {name: every-flowable}
spec:
  tasks:
    - id: all
      type: parallel
      tasks:
        - id: one-by-one
          type: sequential
          tasks: [{id: hello, type: shell, commands: [echo hi]}]
        - id: per-item
          type: each
          items: [a, b]
          tasks: [{id: item, type: shell, commands: [echo item]}]
      errors: [{id: oops, type: log, message: failed}]
    - id: maybe
      type: if
      condition: "{{ inputs.x | default('') }}"
      then: [{id: "yes", type: log, message: "yes"}]
      else: [{id: "no", type: log, message: "no"}]
    - id: choose
      type: switch
      value: a
      cases: [{value: a, tasks: [{id: case-a, type: log, message: a}]}]
      defaults: [{id: other, type: log, message: other}]
"""

# What the operator does with a Flow and an Execution of every flowable kind, in a fresh
# interpreter that built its models as the operator starts: parse both, write both.
PARSE_AND_WRITE = f"""
import yaml
from overture.api import Model, build_models, parse_execution, parse_flow, walk_tasks
build_models()
flow = parse_flow(yaml.safe_load({FLOWABLES!r}))
spec = flow.spec.to_wire()
execution = parse_execution({{
    "apiVersion": "overture.dev/v1alpha1", "kind": "Execution", "metadata": {{"name": "e"}},
    "spec": {{"flowRef": {{"name": "every-flowable"}}}}, "status": {{"state": "RUNNING", "flowSpec": spec}},
}})
assert execution.to_wire()["status"]["flowSpec"] == spec
kinds = sorted({{type(task).__name__ for _, task in walk_tasks(execution.status.flow_spec.tasks, "tasks")}})
def every(base):
    for model in base.__subclasses__():
        yield model
        yield from every(model)
print(kinds, sorted(m.__name__ for m in every(Model) if m.nested_only and m.__pydantic_complete__))
"""


def test_parsing_and_writing_flowables_builds_no_nested_only_model() -> None:
    built = subprocess.run([sys.executable, "-c", PARSE_AND_WRITE], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    kinds = "['EachTask', 'IfTask', 'LogTask', 'ParallelTask', 'SequentialTask', 'ShellTask', 'SwitchTask']"
    assert built.stdout.strip() == f"{kinds} []"
