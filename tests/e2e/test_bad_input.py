"""Issue 17's bad input on the real cluster, each shown three ways: what ``kubectl apply`` and the
API server do with it, what ``overture validate`` says of it (a subprocess, as a person runs it:
the exact message, exit 1, no traceback), and, where the object reaches the cluster, the
operator's ``Ready`` condition naming the field (reason ``Invalid``).

Also: a run that reads the outputs of a task that has not run yet, a failed Python task whose log
keeps the end of its traceback, and the CLI given an unusable kubeconfig.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Cluster, kubectl_path, poll

pytestmark = pytest.mark.e2e


def flow_text(name: str, spec: str) -> str:
    head = f"apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {{name: {name}}}\nspec:\n"
    return head + textwrap.indent(textwrap.dedent(spec), "  ")


@pytest.fixture(scope="module", name="kubectl_path")
def kubectl_path_fixture() -> str:
    return kubectl_path()


class Tools:
    """kubectl and overture as a person runs them, on the test's namespace and a file in tmp_path."""

    def __init__(self, kubectl: str, kubeconfig: str, cluster: Cluster, tmp_path: Path) -> None:
        self.kubectl_path, self.kubeconfig, self.cluster, self.file = (
            kubectl,
            kubeconfig,
            cluster,
            tmp_path / "flow.yaml",
        )

    def kubectl(self, *argv: str, text: str | None = None) -> subprocess.CompletedProcess[str]:
        target = ["--kubeconfig", self.kubeconfig, "-n", self.cluster.namespace]
        return subprocess.run(
            [self.kubectl_path, *target, *argv], input=text, capture_output=True, text=True, timeout=60, check=False
        )

    def apply(self, text: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl("apply", "-f", "-", text=text)

    def validate(self, text: str) -> tuple[int, str, str]:
        """``overture validate`` of ``text`` in a file; FILE stands for its path in what it prints."""
        self.file.write_text(text)
        code, out, err = overture("validate", str(self.file))
        return code, out.replace(str(self.file), "FILE"), err.replace(str(self.file), "FILE")

    def ready(self, name: str) -> dict[str, Any]:
        """The Flow's Ready condition once the operator has judged its current generation."""

        def judged() -> dict[str, Any] | None:
            flow = self.cluster.get("flows", name)
            conditions = (flow.get("status") or {}).get("conditions") or []
            ready = next((c for c in conditions if c["type"] == "Ready"), None)
            current = ready is not None and ready.get("observedGeneration") == flow["metadata"]["generation"]
            return ready if current else None

        return poll(judged, 60, f"flow {name} judged by the operator")


@pytest.fixture
def tools(kubectl_path: str, kubeconfig: str, cluster: Cluster, tmp_path: Path) -> Tools:
    return Tools(kubectl_path, kubeconfig, cluster, tmp_path)


def overture(*argv: str, timeout: float = 60) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "overture", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "OVERTURE_DEBUG": ""},
    )
    assert "Traceback" not in done.stderr, done.stderr  # overture's own errors (stdout may print a task's log)
    assert "this is a bug" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


# --- what kubectl reads otherwise, or refuses ---------------------------------------------------


@pytest.mark.parametrize(("word", "reading"), [("n", "false"), ("yes", "true"), ("off", "false")])
def test_a_yaml_11_boolean_is_read_as_kubectl_reads_it_and_validate_says_quote_it(
    tools: Tools, word: str, reading: str
) -> None:
    text = flow_text("bool-id", f'tasks:\n  - id: {word}\n    type: shell\n    commands: ["echo hi"]\n')
    # kubectl reads the unquoted word as a boolean, and the API server refuses it as one
    applied = tools.apply(text)
    assert applied.returncode == 1
    assert applied.stderr == (
        'The Flow "bool-id" is invalid: spec.tasks[0].id: Invalid value: "boolean": '
        'spec.tasks[0].id in body must be of type string: "boolean"\n'
    )
    # validate reads it the same way, and says how to write what was meant
    assert tools.validate(text) == (
        1,
        "",
        "FILE (bool-id): invalid\n"
        f"  spec.tasks[0].id: the boolean {reading} is not a string "
        f"(line 6: YAML reads the unquoted {word} as a boolean, as kubectl does; quote it: '{word}')\n",
    )
    # quoted, both take it
    quoted = text.replace(f"id: {word}", f"id: '{word}'")
    assert tools.validate(quoted) == (0, "FILE (bool-id): valid\n", "")
    assert tools.apply(quoted).returncode == 0
    assert tools.ready("bool-id")["status"] == "True"


def test_a_key_given_twice_is_refused_where_kubectl_keeps_the_last(tools: Tools) -> None:
    text = flow_text("twice", 'tasks:\n  - id: a\n    type: shell\n    type: python\n    commands: ["echo hi"]\n')
    # kubectl 1.34 applies it: the second `type` wins without a word
    assert tools.apply(text).returncode == 0
    assert tools.cluster.get("flows", "twice")["spec"]["tasks"][0]["type"] == "python"
    # and the operator then finds a python task with commands and no script
    ready = tools.ready("twice")
    assert (ready["status"], ready["reason"]) == ("False", "Invalid")
    assert ready["message"].startswith(
        "spec.tasks[0].script: required field is missing; spec.tasks[0].commands: unknown field; remove it"
    ), ready["message"]
    assert tools.validate(text) == (
        1,
        "",
        "FILE: line 8: key 'type' is already set at line 7 of the same mapping; "
        "kubectl would keep the last one without a word; keep one\n",
    )


@pytest.mark.parametrize(
    ("spec", "kubectl_says", "validate_says"),
    [
        (  # in a list item: a one-pair mapping, which the API server refuses as a field name
            "tasks:\n  - id: a\n    type: shell\n    commands:\n      - echo rows: 42\n",
            'strict decoding error: unknown field "spec.tasks[0].commands[0].echo rows"',
            "FILE (colon): invalid\n"
            "  spec.tasks[0].commands[0]: the mapping {echo rows: 42} is not a string (line 9: the unquoted ': ' in "
            "'echo rows: 42' makes it a mapping; quote the whole value: 'echo rows: 42')\n",
        ),
        (  # in a mapping's value: no YAML at all, for kubectl as for validate
            'tasks:\n  - id: a\n    type: python\n    script: print("rows: 42")\n',
            "error: error parsing STDIN: error converting YAML to JSON: yaml: line 8: "
            "mapping values are not allowed in this context\n",
            "FILE: not valid YAML at line 8, column 26: mapping values are not allowed in this context. "
            "A ': ' inside an unquoted value starts a mapping; quote the value, "
            "script: 'print(\"rows: 42\")', or write it as a block (|)\n",
        ),
    ],
    ids=["list-item", "value"],
)
def test_an_unquoted_colon_says_how_to_quote_it(tools: Tools, spec: str, kubectl_says: str, validate_says: str) -> None:
    text = flow_text("colon", spec)
    applied = tools.apply(text)
    assert applied.returncode == 1
    assert kubectl_says in applied.stderr
    assert tools.validate(text) == (1, "", validate_says)


# --- what reaches the cluster: the operator names the field -------------------------------------


def test_a_template_root_that_does_not_exist_makes_the_flow_invalid(tools: Tools) -> None:
    text = flow_text("roots", 'tasks:\n  - id: a\n    type: shell\n    commands: ["echo {{ flow.id }}"]\n')
    problem = (
        "spec.tasks[0].commands[0]: reads flow.id, which is not defined (flow has: name, namespace); use flow.name"
    )
    assert tools.validate(text) == (1, "", f"FILE (roots): invalid\n  {problem}\n")
    assert tools.apply(text).returncode == 0  # templates are strings to the API server
    ready = tools.ready("roots")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Invalid", problem)
    # Events are posted in the background, after the condition: wait for it (a full CI run read too early)
    poll(
        lambda: any(
            e.type == "Warning" and e.reason == "Invalid" and e.message == problem
            for e in tools.cluster.events("roots")
        ),
        30,
        "the Invalid Warning Event with the problem",
    )


def test_kestra_spellings_are_pointed_at_overtures(tools: Tools) -> None:
    # Where the CRD's schema has the fields (the top level), kubectl's strict check names the first
    # unknown one; validate names them all, with the Overture spelling.
    top = flow_text(
        "kestra",
        """\
        inputs:
          - {id: day, type: STRING, defaults: "2026-01-01"}
        tasks:
          - id: a
            type: shell
            commands: ["echo a"]
            retry: {type: constant, maxAttempts: 3, interval: 10s}
        """,
    )
    applied = tools.apply(top)
    assert applied.returncode == 1
    assert 'strict decoding error: unknown field "spec.inputs[0].defaults"' in applied.stderr
    assert tools.validate(top) == (
        1,
        "",
        "FILE (kestra): invalid\n"
        "  spec.inputs[0].defaults: unknown field; use default\n"
        "  spec.tasks[0].retry.type: unknown field; the kind of retry is 'backoff' here: "
        "backoff: constant, exponential or random\n",
    )
    # Inside a flowable the API server keeps what it is given: the operator names each field.
    nested = flow_text(
        "kestra",
        """\
        tasks:
          - id: all
            type: parallel
            tasks:
              - id: a
                type: shell
                commands: ["echo a"]
                retry: {type: constant, maxAttempts: 3, interval: 10s}
              - id: b
                type: each
                values: ["x", "y"]
                tasks:
                  - {id: c, type: log, message: "{{ taskrun.value }}"}
        """,
    )
    problems = [
        "spec.tasks[0].tasks[0].retry.type: unknown field; the kind of retry is 'backoff' here: "
        "backoff: constant, exponential or random",
        "spec.tasks[0].tasks[1].items: required field is missing",
        "spec.tasks[0].tasks[1].values: unknown field; the list to iterate is 'items' here",
    ]
    assert tools.validate(nested) == (1, "", "FILE (kestra): invalid\n" + "".join(f"  {p}\n" for p in problems))
    assert tools.apply(nested).returncode == 0
    ready = tools.ready("kestra")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "Invalid", "; ".join(problems))


# --- at run time --------------------------------------------------------------------------------


def test_reading_the_outputs_of_a_task_that_has_not_run_says_so(cluster: Cluster) -> None:
    # log and return steps run in the operator: no pod, any node
    cluster.apply_flow(
        flow_text(
            "not-yet",
            """\
            tasks:
              - {id: early, type: log, message: "rows: {{ outputs.late.value }}"}
              - {id: late, type: return, value: 42}
            """,
        )
    )
    name = cluster.run("not-yet")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=120)
    assert execution["status"]["state"] == "FAILED"
    [early] = [run for run in execution["status"]["taskRuns"] if run["id"] == "early"]
    assert early["message"] == (
        "message: outputs.late: task 'late' has not run yet; a task reads the outputs of tasks that ran "
        "before it (earlier in a sequence, or in its dependsOn) in 'rows: {{ outputs.late.value }}'"
    )


@pytest.mark.realnode
def test_a_failed_tasks_log_keeps_the_end_of_its_traceback(tools: Tools, kubeconfig: str) -> None:
    cluster = tools.cluster
    cluster.apply_flow(
        flow_text(
            "crash",
            """\
            tasks:
              - id: crash
                type: python
                script: |
                  import sys
                  for i in range(60):  # on stderr, as the traceback: two streams' lines may interleave
                      print("noise", i, "x" * 60, file=sys.stderr)
                  def deep(n):
                      return deep(n - 1) if n else 1 / 0
                  deep(30)
            """,
        )
    )
    name = cluster.run("crash")
    execution = cluster.wait_state(name, {"SUCCESS", "FAILED"}, timeout=180)
    assert execution["status"]["state"] == "FAILED"
    [run] = execution["status"]["taskRuns"]
    job = run["attempts"][-1]["job"]
    # the message says where the log is (never the log itself: issue 14) ...
    assert run["message"] == f"Error, exit code 1; its log: kubectl logs job/{job}"
    # ... and the log there, and as overture prints it, ends with what failed
    logs = tools.kubectl("logs", f"job/{job}")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.rstrip().splitlines()[-1] == "ZeroDivisionError: division by zero"
    code, out, _ = overture("logs", name, "--kubeconfig", kubeconfig, "-n", cluster.namespace)
    assert code == 0
    assert out.rstrip().splitlines()[-1].endswith("ZeroDivisionError: division by zero"), out[-500:]


# --- the CLI without a usable cluster -----------------------------------------------------------

UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: abc}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.mark.parametrize(
    ("kubeconfig", "context", "backfill", "ui"),
    [
        (
            None,
            None,
            "no cluster reachable: cannot load kubeconfig KC: no such file",
            "cannot load kubeconfig KC: no such file",
        ),
        (
            "garbage: [\n",
            None,
            "no cluster reachable: cannot load kubeconfig KC: while parsing a flow node\n"
            "expected the node content, but found '<stream end>'\n"
            '  in "KC", line 2, column 1',
            "cannot load kubeconfig KC: while parsing a flow node\n"
            "expected the node content, but found '<stream end>'\n"
            '  in "KC", line 2, column 1',
        ),
        (
            UNREACHABLE,
            "nope",
            "no context 'nope' in kubeconfig KC (contexts: x)",
            "cannot load kubeconfig KC: Invalid kube-config file. Expected object with name nope in KC/contexts list",
        ),
        (
            UNREACHABLE,
            None,
            "no cluster reachable (kubeconfig KC, context 'x', server https://127.0.0.1:1): "
            "HTTPSConnection(host='127.0.0.1', port=1): Failed to establish a new connection: "
            "[Errno 111] Connection refused",
            None,  # the UI starts: it asks the API server only for its callers
        ),
    ],
    ids=["missing", "not-yaml", "no-such-context", "unreachable"],
)
def test_an_unusable_kubeconfig_is_one_line_that_names_it(
    tmp_path: Path, kubeconfig: str | None, context: str | None, backfill: str, ui: str | None
) -> None:
    path = tmp_path / "kubeconfig"
    if kubeconfig is not None:
        path.write_text(kubeconfig)
    target = ["--kubeconfig", str(path), *(["--context", context] if context else [])]
    code, out, err = overture("backfill", "nightly", "--from", "2026-01-01", "--to", "2026-01-02", *target)
    assert (code, out, err) == (1, "", f"error: {backfill}\n".replace("KC", str(path)))
    if ui is not None:
        code, out, err = overture("ui", "--port", "0", *target)
        assert (code, out, err) == (1, "", f"error: {ui}\n".replace("KC", str(path)))
