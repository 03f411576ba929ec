"""Sandboxed Jinja2 templates: ``{{ inputs.x }}``, ``{{ outputs.task.key }}``, ``{{ vars.x }}``.

Invariants:
- Rendering runs in ``jinja2.sandbox.ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a
  template cannot reach Python internals nor change the values it is given (``outputs.a.update()``
  would otherwise edit the status it was rendered from), and an undefined name is an error,
  never an empty string.
- ``{{ secret('name', 'key') }}`` never sees the secret's value. It renders ``$(VAR)``, a
  reference Kubernetes expands in a container's command and args (``${VAR}`` in a shell
  script), and records ``VAR`` with a ``secretKeyRef``; the Job gets the env var. The value
  never enters a spec, a status or a log.
- A value never becomes code in a container's command: inside its fields every ``{{ }}`` value
  is placed (``placing``), escaped for the kubelet, and in a shell script read from an env var
  unless it is plain text (``42``, ``2026-01-31``).
- ``references`` reads a template without rendering it, so a Flow can be checked for names of
  tasks and inputs that do not exist before anything runs.
- A template cannot build a value of more than ``MAX_SIZE`` characters, digits or items: the
  operations that grow a value (``*``, ``**``, ``+``, ``%``, ``~``, padding and format methods,
  filters with a width or a count, block and macro output, the output itself) are checked before
  they allocate. Templates run in the operator, so one tenant's Flow could otherwise ask it for
  gigabytes (``{{ 'x' * 10**10 }}``).
- A template cannot run for long either: loops, calls, filters and growing operators tick a CPU
  budget (``cpu_budget``, ``DEFAULT_SECONDS`` for a render outside one), and a template past it
  fails with a ``TemplateError`` naming the budget. ``str.format`` and ``format_map`` are refused.

The package, one concern a module, each using only those above it in this list:

- ``budget``: the CPU a piece of work's templates may spend, and the ticks that check it;
- ``bounds``: ``MAX_SIZE``, the size of a value, and how large each growing operation's result may
  be, estimated from its arguments before it runs;
- ``filters``: the filters Overture adds (``date``, ``dateAdd``, ``json``, ``fromjson``);
- ``placing``: where each ``{{ }}`` value lands in a container's fields;
- ``sandbox``: the environment, which checks every growing operation against the bounds;
- ``rendering``: ``render``, ``render_value``, ``is_truthy``, secrets as ``$(VAR)`` references;
- ``references``: reading a template without rendering it (``references``, ``syntax_problem``).

Only ``sandbox`` imports Jinja at its top, and only ``rendering`` and ``references`` import
``sandbox``, inside the functions that parse: Jinja (~2 MiB) loads when a template is first
parsed or rendered, never for a flow without one (``rendering``'s module doc).
"""

from overture.templating.bounds import MAX_SIZE
from overture.templating.budget import DEFAULT_SECONDS, cpu_budget
from overture.templating.placing import (
    VALUE_ENV_PREFIX,
    KubeletText,
    Placement,
    SecretReference,
    ShellScript,
    kubelet_escaped,
    placing,
)
from overture.templating.references import (
    CONTEXT_KEYS,
    CONTEXT_ROOTS,
    KEY_HINTS,
    KNOWN_NAMES,
    output_keys,
    references,
    syntax_problem,
)
from overture.templating.rendering import (
    SecretRefs,
    TemplateError,
    is_template,
    is_truthy,
    render,
    render_value,
    secret_env_name,
)

__all__ = [
    "CONTEXT_KEYS",
    "CONTEXT_ROOTS",
    "DEFAULT_SECONDS",
    "KEY_HINTS",
    "KNOWN_NAMES",
    "MAX_SIZE",
    "VALUE_ENV_PREFIX",
    "KubeletText",
    "Placement",
    "SecretReference",
    "SecretRefs",
    "ShellScript",
    "TemplateError",
    "cpu_budget",
    "is_template",
    "is_truthy",
    "kubelet_escaped",
    "output_keys",
    "placing",
    "references",
    "render",
    "render_value",
    "secret_env_name",
    "syntax_problem",
]
