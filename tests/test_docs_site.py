"""The documentation site: `mkdocs build --strict` passes, and the built HTML has an API page for every public
module, typeset equations, a figure on every guide page, the executed notebook and every page in the navigation."""

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def public_modules() -> list[str]:
    """Every module of the package whose dotted name has no part starting with an underscore (found on disk)."""
    names = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
             for path in (ROOT / "sciml").rglob("*.py")}
    return sorted(name for name in names if not any(part.startswith("_") for part in name.split(".")))


def api_directives() -> dict[str, Path]:
    """Module rendered by a `::: module` line -> the API page holding it."""
    return {name: page for page in sorted((DOCS / "api").glob("*.md"))
            for name in re.findall(r"^::: (\S+)", page.read_text(), re.M)}


def nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def make_figures():
    spec = importlib.util.spec_from_file_location("make_figures", DOCS / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def built_page(site: Path, page: str) -> str:
    """The HTML built from `page` (a path relative to docs/, e.g. guides/pig.md)."""
    stem = Path(page).with_suffix("")
    return (site / (stem.parent if stem.name == "index" else stem) / "index.html").read_text()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                           capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stderr[-4000:]}"
    return out


def test_every_public_module_has_an_api_page():
    directives = api_directives()
    missing = sorted(set(public_modules()) - set(directives))
    assert not missing, ("public modules without an API page: add docs/api/MODULE.md holding '::: MODULE' (and its "
                         f"nav line in mkdocs.yml) for each of {missing}")


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    pages = {str(path.relative_to(DOCS)) for pattern in ("**/*.md", "notebooks/*.ipynb") for path in DOCS.glob(pattern)}
    assert not sorted(pages - set(nav)), f"pages missing from the nav of mkdocs.yml: {sorted(pages - set(nav))}"
    assert not sorted(set(nav) - pages), f"nav entries without a page: {sorted(set(nav) - pages)}"


def test_api_pages_render_every_exported_name_with_its_signature(site):
    for name, page in api_directives().items():
        html = built_page(site, str(page.relative_to(DOCS)))
        assert "doc-signature" in html, f"{page.name}: no rendered signature"
        exported = getattr(importlib.import_module(name), "__all__", [])
        missing = [member for member in exported if f'id="{name}.{member}"' not in html]
        assert not missing, f"{page.name} does not document {missing}"


def test_equations_are_arithmatex_spans_typeset_by_mathjax(site):
    for page in ["tutorials/burgers.md", "guides/battery.md"]:
        html = built_page(site, page)
        assert 'class="arithmatex"' in html, f"{page}: equations not converted"
        scripts = re.findall(r'<script src="([^"]+)"', html)
        assert any("mathjax" in src and src.startswith("https://") for src in scripts), scripts
        config = next(src for src in scripts if src.endswith("javascripts/mathjax.js"))
        assert (site / Path(page).with_suffix("") / config).resolve().is_file()


def test_every_guide_shows_a_figure_that_the_site_holds(site):
    guides = sorted(str(path.relative_to(DOCS)) for path in (DOCS / "guides").glob("*.md")) + ["tutorials/burgers.md"]
    for page in guides:
        folder = site / Path(page).with_suffix("")
        images = [src for src in re.findall(r'<img[^>]+src="([^"]+)"', built_page(site, page))
                  if not src.startswith(("http", "data:"))]
        assert images, f"{page} shows no figure"
        for src in images:
            assert (folder / src).resolve().is_file(), f"{page}: {src} is not in the built site"


def test_guide_figures_come_from_the_script_with_the_command_in_the_caption():
    for name, figure in make_figures().FIGURES.items():
        png = DOCS / "assets" / "guides" / f"{name}.png"
        assert png.is_file() and png.stat().st_size < 200_000, f"{png}: run python docs/make_figures.py --only {name}"
        text = " ".join((DOCS / figure.guide).read_text().split())
        assert f"assets/guides/{name}.png" in text, f"{figure.guide} does not show {png.name}"
        assert f"`{figure.command()}`" in text, f"{figure.guide}: the caption should state `{figure.command()}`"


def test_notebook_page_shows_the_code_and_its_outputs(site):
    html = built_page(site, "notebooks/burgers.ipynb")
    assert "PINNLoss(problem)" in html, "the notebook's code cells are not rendered"
    assert "relative L2 error after 400 steps" in html, (
        "the notebook is stored without outputs: python docs/make_figures.py --only notebook")
    assert "data:image/png;base64" in html, "the notebook's figure is not rendered"
