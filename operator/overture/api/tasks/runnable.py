"""Runnable tasks: ``shell``, ``python`` and ``container``, one Job (one pod) per attempt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from overture.api.common import ENV_NAME_PATTERN, Model, SecretKeyRef
from overture.api.tasks.base import TaskBase


class EnvVar(Model):
    """An environment variable: a templated ``value`` or a ``secretKeyRef`` (never copied anywhere)."""

    name: str = Field(pattern=ENV_NAME_PATTERN, max_length=253)
    value: str | None = None
    secret_key_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if (self.value is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of 'value' or 'secretKeyRef'")
        return self


class Resources(Model):
    """Container resources, as Kubernetes quantities (``cpu: 500m``, ``memory: 256Mi``)."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _quantities_as_text(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: str(v) if isinstance(v, (int, float)) else v for k, v in value.items()}
        return value


class RunnableTask(TaskBase):
    retryable: ClassVar[bool] = True  # each attempt a new pod
    default_image: ClassVar[str | None] = None  # the image when the task names none

    image: str | None = Field(default=None, description="Container image; shell and python have defaults")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    env: tuple[EnvVar, ...] = ()
    resources: Resources | None = None
    input_files: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Files written into the work dir before the command, path -> template: a file reference"
            " (outputs.<task>.files['<path>'], a FILE input) is downloaded, anything else is the text"
        ),
    )
    output_files: tuple[str, ...] = Field(
        default=(),
        description=(
            "Globs relative to the work dir (** spans directories); the files they match are stored"
            " and reachable as outputs.<task>.files['<path>']"
        ),
    )
    outputs_from: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Outputs read from files after the command, key -> path (relative to the work dir, or"
            " absolute): the output is the file's text without its trailing newline, as Argo's"
            " valueFrom.path; a file the command did not write fails the task"
        ),
    )

    @field_validator("input_files")
    @classmethod
    def _relative_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value:
            _check_relative(path)
        return value

    @field_validator("output_files")
    @classmethod
    def _relative_globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            _check_relative(glob)
        return value

    @field_validator("outputs_from")
    @classmethod
    def _output_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for key, path in value.items():
            if key == "files":
                raise ValueError("'files' is the output outputFiles fill; name this output differently")
            if not path or ".." in path.split("/"):
                raise ValueError(f"{key}: {path!r} must be a path to a file (no ..)")
        return value

    @property
    def uses_store(self) -> bool:
        """Whether the task runs under the wrapper with the artifact store (files, outputs from files)."""
        return bool(self.input_files or self.output_files or self.outputs_from)

    def _templates(self) -> Iterator[tuple[str, str]]:
        yield from self._command_templates()
        for i, var in enumerate(self.env):
            if var.value is not None:
                yield f"env[{i}].value", var.value
        for path, value in self.input_files.items():
            yield f"inputFiles.{path}", value

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        yield from ()


def _check_relative(path: str) -> None:
    """A path or glob inside the work dir, as the wrapper accepts it (wrapper/spec.go)."""
    if not path or path.startswith("/") or ".." in path.split("/"):
        raise ValueError(f"{path!r} must be a relative path inside the work dir (no leading /, no ..)")


class ShellTask(RunnableTask):
    default_image: ClassVar[str | None] = "busybox:1.36"

    type: Literal["shell"]
    commands: tuple[str, ...] = Field(min_length=1, description="Templates, run in order by /bin/sh -ec")

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        for i, command in enumerate(self.commands):
            yield f"commands[{i}]", command


class PythonTask(RunnableTask):
    default_image: ClassVar[str | None] = "python:3.12-slim"

    type: Literal["python"]
    script: str = Field(min_length=1, description="Template of a Python script, run by python3")

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        yield "script", self.script


class ContainerTask(RunnableTask):
    type: Literal["container"]
    image: str = Field(min_length=1)
    command: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None

    @model_validator(mode="after")
    def _files_need_a_command(self) -> ContainerTask:
        # The wrapper runs the command it is given: an image's own entrypoint is not known here.
        if self.uses_store and not self.command:
            raise ValueError(
                "inputFiles, outputFiles and outputsFrom need 'command' (the image's entrypoint is not known)"
            )
        return self

    def _command_templates(self) -> Iterator[tuple[str, str]]:
        for name, values in (("command", self.command), ("args", self.args)):
            for i, arg in enumerate(values or ()):
                yield f"{name}[{i}]", arg
