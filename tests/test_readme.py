"""The README's Python snippet runs as printed (at 200 of its 3000 steps) and its links and picture exist."""

import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def test_readme_snippet_solves_burgers_at_a_reduced_step_count(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert ", 3000, key=" in code, "the test shortens the snippet's fit(..., 3000, ...) call: keep that literal"
    namespace = {}
    exec(compile(code.replace(", 3000, key=", ", 200, key="), "README.md", "exec"), namespace)
    history = namespace["result"].history
    assert history[-1]["loss"] < history[0]["loss"], "training should lower the residual loss"
    error = float(re.search(r"relative L2 error: (\S+)", capsys.readouterr().out).group(1))
    assert math.isfinite(error) and error < 1.0


def test_readme_links_and_picture_exist():
    targets = re.findall(r"\]\(([^)#]+)\)", README.read_text())
    local = [target for target in targets if not target.startswith("http")]
    assert any(target.endswith(".png") for target in local), "the README shows no picture"
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, f"README links to missing files: {missing}"
