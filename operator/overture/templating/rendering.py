"""Rendering a template in the sandbox: ``render``, ``render_value``, ``is_truthy``, secret references.

Every failure is a ``TemplateError`` whose message names what is wrong (an undefined variable,
a syntax error, something the sandbox refused), never a traceback from Jinja.

Jinja (~2 MiB with the sandbox) loads when a template is first parsed or rendered (``render``,
``references``): the modules that render import this package at their top, and a process whose
flows hold no ``{{`` (the operator of most Flows, the CLI) never needs it. The imports of
``sandbox`` and ``jinja2`` are therefore inside the functions that parse, the one place each.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from overture.templating import budget
from overture.templating.placing import SecretReference

if TYPE_CHECKING:
    from jinja2 import UndefinedError

FALSY = frozenset({"", "false", "0", "no", "off", "none", "null"})
TOO_DEEP = "template nested too deeply to read (brackets or blocks inside each other); flatten it"


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names what is wrong."""


@dataclass
class SecretRefs:
    """Secrets referenced while rendering: env var name -> (secret name, key)."""

    refs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def reference(self, name: str, key: str) -> SecretReference:
        var = secret_env_name(name, key)
        self.refs[var] = (name, key)
        return SecretReference(var)


def secret_env_name(name: str, key: str) -> str:
    slug = re.sub(r"[^A-Z0-9]+", "_", f"{name}_{key}".upper()).strip("_")[:40]
    digest = hashlib.sha256(f"{name}/{key}".encode()).hexdigest()[:6].upper()
    return f"OVERTURE_SECRET_{slug}_{digest}"


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


def render(template: str, context: Mapping[str, Any], secrets: SecretRefs | None = None) -> str:
    """Render ``template``; raises TemplateError naming the undefined variable or the syntax error."""
    if not is_template(template):
        return template
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.exceptions import SecurityError, TemplateRuntimeError

    from overture.templating.sandbox import ENV

    refs = secrets if secrets is not None else SecretRefs()
    try:
        with budget.rendering():
            try:
                compiled = ENV.from_string(template)
            except RecursionError:
                raise TemplateError(TOO_DEEP) from None
            return compiled.render({**context, "secret": refs.reference})
    except UndefinedError as exc:
        raise TemplateError(f"{_undefined_message(exc)} in {template.strip()[:120]!r}") from None
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error at line {exc.lineno}: {exc.message}") from None
    except (SecurityError, budget.RefusedError) as exc:
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
