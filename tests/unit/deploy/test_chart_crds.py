"""The Helm chart ships the same CRDs as crds/ (Helm installs charts/overture/crds/ as they are).

`make crds` regenerates crds/ and copies them into the chart; this test fails when a copy was
forgotten, so a chart install never serves an older schema than `kubectl apply -f crds/`.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "crds"
CHART_CRD_DIR = ROOT / "charts" / "overture" / "crds"


def _files(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.yaml"))}


def test_chart_crds_are_the_generated_crds() -> None:
    generated, charted = _files(CRD_DIR), _files(CHART_CRD_DIR)
    assert generated, f"no CRDs in {CRD_DIR}"
    missing = sorted(set(generated) - set(charted))
    extra = sorted(set(charted) - set(generated))
    stale = sorted(name for name in set(generated) & set(charted) if generated[name] != charted[name])
    problems = [
        *(f"missing from the chart: {name}" for name in missing),
        *(f"in the chart but not in crds/: {name}" for name in extra),
        *(f"differs from crds/{name}" for name in stale),
    ]
    assert not problems, f"{CHART_CRD_DIR.relative_to(ROOT)} is out of date ({'; '.join(problems)}); run `make crds`"
