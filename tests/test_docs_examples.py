"""Every ```python block in docs/ runs, in a folder holding the churn example as `churn-demo/`.

A block that only shows a fragment (it needs the reader's own data) is fenced as ```py instead.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from tests.paths import ROOT

from doorstep.services.apps.loading import load_app
from doorstep.services.runs.files import score_file

DOCS = ROOT / "docs"
BLOCKS = [
    pytest.param(block, id=f"{page.stem}-{i}")
    for page in sorted(DOCS.glob("*.md"))
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


@pytest.fixture(scope="module")
def demo_folder(churn_app_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    demo = root / "churn-demo"
    shutil.copytree(churn_app_template, demo)
    app = load_app(demo / "doorstep.yaml")
    score_file(app, demo / "customers.parquet", demo / "decisions.parquet")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("block", BLOCKS)
def test_docs_example_runs(block: str, demo_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(demo_folder)
    exec(compile(block, "docs", "exec"), {"__name__": "__docs__"})
