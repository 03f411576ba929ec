"""``overture validate``, ``graph`` and ``local run`` on the bad files of issue 17: each prints one
message naming the line and the fix, exits 1, and never a traceback; only the named command's
module is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from validation.test_yaml_documents import BOMB

from overture.cli import main

ROOT = Path(__file__).resolve().parents[3]
FLOW = "apiVersion: overture.dev/v1alpha1\nkind: Flow\nmetadata: {name: f}\nspec:\n  tasks:\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (BOMB.encode(), "aliases (*name) expand this document by "),
        (FLOW.encode() + b"    - {id: a, type: shell, commands: [caf\xe9]}\n", "not UTF-8 at line 6, column 42"),
        (FLOW.encode() + b"    - {id: a, type: shell, id: b}\n", "line 6: key 'id' is already set at line 6"),
        (
            FLOW.encode() + b"    - {id: n, type: shell, commands: [echo]}\n",
            "spec.tasks[0].id: the boolean false is not a string (line 6: YAML reads the unquoted n as a boolean, "
            "as kubectl does; quote it: 'n')",
        ),
        (
            FLOW.encode() + b"    - id: a\n      type: fail\n      message: Task failed: see log\n",
            "quote the value, message: 'Task failed: see log', or write it as a block (|)",
        ),
    ],
)
@pytest.mark.parametrize("command", [["validate"], ["graph", "-f"], ["local", "run"]])
def test_a_bad_file_is_one_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str, command: list[str]
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes(content)
    assert main([*command, str(path)]) == 1
    out, err = capsys.readouterr()
    assert expected in err
    assert "Traceback" not in out + err


def test_a_bug_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import overture.cli.files as files

    def broken(*_: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("OVERTURE_DEBUG", raising=False)
    monkeypatch.setattr(files, "flow_problems", broken)
    assert main(["validate", str(ROOT / "examples" / "01-hello-world.yaml")]) == 1
    assert capsys.readouterr().err == (
        "error: ZeroDivisionError: division by zero\n"
        "(this is a bug in overture; OVERTURE_DEBUG=1 prints the traceback)\n"
    )


@pytest.mark.parametrize(
    ("argv", "heavy"),
    [
        # validate: not even the templates' neighbours it does not use (croniter: no schedule here;
        # re2: no input pattern)
        (
            ["validate", "-q", "examples/03-dag.yaml"],
            "kubernetes kubernetes_asyncio kopf aiohttp starlette obstore croniter re2",
        ),
        # --help builds every command's parser; each imports its client when it runs
        (["--help"], "kubernetes kubernetes_asyncio kopf aiohttp starlette uvicorn"),
    ],
)
def test_a_command_imports_only_what_it_uses(argv: list[str], heavy: str) -> None:
    script = (
        "import contextlib, io, sys; from overture.cli import main\n"
        f"with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main({argv!r})\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy.split()!r}))"
    )
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert found.stdout.strip() == "[]"
