"""Sandboxed Jinja2 templates: ``{{ inputs.x }}``, ``{{ outputs.task.key }}``, ``{{ vars.x }}``.

Invariants:
- Rendering runs in ``jinja2.sandbox.ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a
  template cannot reach Python internals nor change the values it is given (``outputs.a.update()``
  would otherwise edit the status it was rendered from), and an undefined name is an error,
  never an empty string.
- ``{{ secret('name', 'key') }}`` never sees the secret's value. It renders ``$(VAR)``, a
  reference Kubernetes expands in a container's command and args, and records ``VAR`` with a
  ``secretKeyRef``; the Job gets the env var. The value never enters a spec, a status or a log.
- ``references`` reads a template without rendering it, so a Flow can be checked for names of
  tasks and inputs that do not exist before anything runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONTEXT_ROOTS = frozenset(
    {"inputs", "outputs", "vars", "trigger", "execution", "taskrun", "labels", "error", "flow", "parents"}
)
FALSY = frozenset({"", "false", "0", "no", "off", "none", "null"})
# Names Jinja itself binds: loop state inside {% for %}, and the arguments of a macro.
_JINJA_LOCALS = frozenset({"loop", "caller", "varargs", "kwargs"})


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names what is wrong."""


@dataclass
class SecretRefs:
    """Secrets referenced while rendering: env var name -> (secret name, key)."""

    refs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def reference(self, name: str, key: str) -> str:
        var = secret_env_name(name, key)
        self.refs[var] = (name, key)
        return f"$({var})"


def secret_env_name(name: str, key: str) -> str:
    slug = re.sub(r"[^A-Z0-9]+", "_", f"{name}_{key}".upper()).strip("_")[:40]
    digest = hashlib.sha256(f"{name}/{key}".encode()).hexdigest()[:6].upper()
    return f"OVERTURE_SECRET_{slug}_{digest}"


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _date_filter(value: Any, fmt: str = "%Y-%m-%d") -> str:
    return _to_datetime(value).strftime(fmt)


DATE_ADD_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


def _date_add(value: Any, amount: int, unit: str = "days") -> str:
    """``{{ inputs.day | dateAdd(-1) }}``: a date stays a date (``2026-01-30``), a date-time stays one."""
    if unit not in DATE_ADD_UNITS:
        raise ValueError(f"dateAdd unit {unit!r} is not one of {', '.join(DATE_ADD_UNITS)}")
    moved = _to_datetime(value) + timedelta(**{unit: amount})
    is_date = isinstance(value, date) and not isinstance(value, datetime)
    if (is_date or _DATE_ONLY.fullmatch(str(value))) and unit in ("weeks", "days"):
        return moved.date().isoformat()
    return moved.isoformat()


def _make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["json"] = lambda v: json.dumps(v, sort_keys=True)
    env.filters["fromjson"] = json.loads
    env.filters["date"] = _date_filter
    env.filters["dateAdd"] = _date_add
    return env


_ENV = _make_env()

KNOWN_NAMES = CONTEXT_ROOTS | {"secret"} | frozenset(_ENV.globals) | _JINJA_LOCALS
"""Every name a template may read without binding it first."""


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(template: str, context: Mapping[str, Any], secrets: SecretRefs | None = None) -> str:
    """Render ``template``; raises TemplateError naming the undefined variable or the syntax error."""
    if not is_template(template):
        return template
    refs = secrets if secrets is not None else SecretRefs()
    try:
        compiled = _ENV.from_string(template)
        return compiled.render({**context, "secret": refs.reference})
    except UndefinedError as exc:
        raise TemplateError(f"{_undefined_message(exc)} in {template.strip()[:120]!r}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error at line {exc.lineno}: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateError(f"not allowed in a template: {exc}") from None
    except TemplateRuntimeError as exc:  # e.g. an unknown test inside {% if %}, found only when run
        raise TemplateError(f"{exc} in {template.strip()[:120]!r}") from None
    except (TypeError, ValueError, LookupError, AttributeError, ArithmeticError, RecursionError) as exc:
        # ArithmeticError: {{ 1/0 }}, a sandboxed range() too big; RecursionError: a macro calling itself.
        raise TemplateError(f"{type(exc).__name__}: {exc} in {template.strip()[:120]!r}") from None


def _undefined_message(exc: UndefinedError) -> str:
    text = str(exc.message or exc)
    match = re.search(r"'([^']+)' is undefined", text)
    if match:
        return f"undefined variable {match.group(1)!r}"
    match = re.search(r"has no attribute '([^']+)'", text)
    if match:
        return f"undefined key {match.group(1)!r} ({text})"
    return text


def render_value(value: Any, context: Mapping[str, Any], secrets: SecretRefs | None = None) -> Any:
    """Render every string inside a JSON-like value."""
    if isinstance(value, str):
        return render(value, context, secrets)
    if isinstance(value, list | tuple):
        return [render_value(v, context, secrets) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, context, secrets) for k, v in value.items()}
    return value


def is_truthy(rendered: str) -> bool:
    return rendered.strip().lower() not in FALSY


def syntax_problem(template: str) -> str | None:
    if not is_template(template):
        return None
    try:
        _ENV.compile(template)  # compiling, not only parsing, also finds unknown filters and tests
    except TemplateSyntaxError as exc:
        return f"template syntax error at line {exc.lineno}: {exc.message}"
    return None


def references(template: str) -> set[tuple[str, str | None]]:
    """``(root, first key)`` pairs the template reads, e.g. ``("outputs", "extract")``.

    The key is None when it is computed (``outputs[name]``) or absent (``{{ inputs }}``).
    Names bound inside the template (``{% for x in ... %}``) are not reported.
    """
    if not is_template(template):
        return set()
    try:
        tree = _ENV.parse(template)
    except TemplateSyntaxError:
        return set()
    found: set[tuple[str, str | None]] = set()
    keyed: set[int] = set()
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        key: str | None = None
        if isinstance(node, nodes.Getattr):
            # inputs.get('x') calls a method of the mapping: the key read is computed, not 'get'.
            target, key = node.node, (None if id(node) in called else node.attr)
        elif isinstance(node, nodes.Getitem):
            target = node.node
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                key = node.arg.value
        else:
            continue
        if isinstance(target, nodes.Name) and target.ctx == "load":
            keyed.add(id(target))
            found.add((target.name, key))
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    stored |= {macro.name for macro in tree.find_all(nodes.Macro)}
    for name_node in tree.find_all(nodes.Name):
        if name_node.ctx == "load" and id(name_node) not in keyed:
            found.add((name_node.name, None))
    return {(root, key) for root, key in found if root not in stored}
