"""Every ```python block in docs/ runs, in a folder holding the churn example as `churn-demo/`.

A page's blocks run in the order a reader runs them (a later block may use what an earlier one
made), in a folder of the page's own: no page sees what another page's blocks left, whatever
order the tests run in.

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
PAGES = [
    pytest.param(blocks, id=page.stem)
    for page in sorted(DOCS.glob("*.md"))
    if (blocks := re.findall(r"```python\n(.*?)```", page.read_text(), re.S))
]


@pytest.fixture(scope="module")
def demo_template(churn_app_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example with its sample scored, made once for every page."""
    demo = tmp_path_factory.mktemp("docs") / "churn-demo"
    shutil.copytree(churn_app_template, demo)
    app = load_app(demo / "doorstep.yaml")
    score_file(app, demo / "customers.parquet", demo / "decisions.parquet")
    return demo


@pytest.mark.slow
@pytest.mark.parametrize("blocks", PAGES)
def test_docs_examples_run(
    blocks: list[str], demo_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(demo_template, tmp_path / "churn-demo")
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(blocks):
        exec(compile(block, f"docs block {number}", "exec"), {"__name__": "__docs__"})
