"""Models build their validators on first use (``defer_build``), and ``build_models`` builds them all."""

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


def test_build_models_builds_every_model() -> None:
    build_models()
    models = list(every_model())
    assert len(models) > 50
    assert [m.__name__ for m in models if not m.__pydantic_complete__] == []
