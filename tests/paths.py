"""Where things are in the repository, for tests wherever they sit in the tree."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root."""
DOCS = ROOT / "docs"
BENCH = ROOT / "bench"
