"""docs/monitoring.md states the Jensen-Shannon distance's log base and how to convert it to
NannyML's base 2; the numbers it gives are the kernel's and scipy's."""

from __future__ import annotations

import math
import re

import numpy as np
from scipy.spatial.distance import jensenshannon
from tests.paths import ROOT

from doorstep.core.stats.kernels import js_distance


def test_the_docs_state_the_base_and_the_conversion_to_nannyml() -> None:
    text = (ROOT / "docs" / "monitoring.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| Jensen-Shannon distance"))
    assert "natural log" in row and "NannyML uses base 2" in row
    factor = float(re.search(r"≈ (1\.\d+) · d", row).group(1))  # type: ignore[union-attr]
    p, q = np.array([50, 30, 20]), np.array([30, 30, 40])
    natural = js_distance(p, q)
    assert math.isclose(natural, jensenshannon(p / 100, q / 100), rel_tol=1e-12)
    assert math.isclose(natural * factor, jensenshannon(p / 100, q / 100, base=2), rel_tol=1e-3)
    assert "0.120 in NannyML's units" in row and "0.083 here" in row
    assert math.isclose(0.1 * factor, 0.120, abs_tol=5e-4)
    assert math.isclose(0.1 / factor, 0.083, abs_tol=5e-4)
