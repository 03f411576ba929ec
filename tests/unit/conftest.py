"""Unit tests, one folder per area of ``operator/overture`` (api, validation, templating, engine, kube,
controller, triggers, cli) plus ``deploy`` (chart, image, Argo CD) and ``bench`` (the report of
benchmarks/scale.py). Shared builders live in ``support/`` and are imported as
``from support.sim import ...``: pytest puts this directory, the one holding this conftest, on
``sys.path``. Test file names are unique across folders (the folders
are not packages)."""

import os
import tempfile

# The Flow's validator cache (overture.cli.validator_cache) goes to a directory of this run, not ~/.cache.
os.environ.setdefault("OVERTURE_CACHE_DIR", tempfile.mkdtemp(prefix="overture-unit-cache-"))
