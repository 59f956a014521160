"""The docs site: built from the notebooks' stored outputs (tools/build_docs.py, what `make docs` runs without Quarto),
then opened in headless Chromium: the home page and a component page must render with their pictures and the API
signatures. Screenshots go to a temporary folder (`make screenshots`: docs/screenshots/)."""
import html, re, sys
from pathlib import Path
import pytest
from conftest import ROOT, require

sys.path.insert(0, str(ROOT / 'tools'))

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    require('sphinx', 'myst_nb', 'furo', chromium=False)
    import build_docs
    return build_docs.build(tmp_path_factory.mktemp('docs'))

def text_of(path: Path) -> str:
    "A page's text without tags (code is split into highlighted spans)."
    return html.unescape(re.sub(r'<[^>]+>', '', path.read_text()))

def test_every_notebook_is_a_page_with_its_stored_outputs(site):
    import build_docs
    pages = build_docs.notebooks(ROOT / 'nbs')
    assert len(pages) >= 10 and pages[0].stem == 'index'
    for p in pages: assert (site / f'{p.stem}.html').exists(), f'{p.name} has no page'
    index = (site / 'index.html').read_text()
    for p in pages[1:]: assert f'href="{p.stem}.html"' in index, f'{p.stem} is not linked from the home page'
    # the pages show the outputs stored in the notebooks
    assert 'selfie.png is not an aligned face the model can take' in text_of(site / '18_demo.html')

def test_api_pages_show_signatures_and_docstrings(site):
    demo = text_of(site / '18_demo.html')
    assert 'def check_upload(' in demo  # a show_doc output
    assert 'naming every way it is not an aligned RGB face' in demo  # its docstring
    assert 'def to_png(' in demo  # not show_doc'd in the notebook: from the API section
    evaluate = text_of(site / '14_evaluate.html')
    metrics = text_of(next(site.glob('[0-9]*_metrics.html')))   # the Metrics notebook's page, whatever its number
    assert 'def fold_indices(' in metrics and 'def verify_bin(' in evaluate
    import mtlface.evaluate as ev, mtlface.metrics as me
    for mod, text in ((ev, evaluate), (me, metrics)):
        for name in mod.__all__:  # every exported function has its signature on its page, shown or in the API section
            if callable(getattr(mod, name)) and not isinstance(getattr(mod, name), type):
                assert re.search(rf'def\s+{name}\(', text), f'{name}: no signature on the page of {mod.__name__}'

def test_hidden_cells_and_widgets_are_not_shown(site):
    demo = text_of(site / '18_demo.html')
    assert 'default_exp' not in demo and '#| export' not in demo and '#| hide' not in demo
    assert 'from nbdev.showdoc import show_doc' not in demo  # a `#| hide` cell
    assert 'show_doc(' not in demo  # cells that only call show_doc show the documentation, not the call
    assert 'VBox(children' not in demo  # a live widget's text stand-in

def images_of(page):
    return page.evaluate('''() => Array.from(document.images).map(i => ({src: i.getAttribute('src'),
                               ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}))''')

@pytest.mark.parametrize('name,shot,min_images', [('index', 'docs_index.png', 2), ('18_demo', 'docs_demo.png', 3)])
def test_page_renders_in_chromium(site, browser, name, shot, min_images, screenshots):
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    errors = []
    page.on('pageerror', lambda e: errors.append(str(e)))
    page.goto((site / f'{name}.html').as_uri())
    page.wait_for_load_state('load')
    imgs = images_of(page)
    assert len(imgs) >= min_images, imgs
    broken = [i['src'] for i in imgs if not i['ok']]
    assert not broken, f'{name}: images that did not load: {broken}'
    assert page.locator('h1').first.is_visible()
    assert page.locator('.sidebar-tree a').count() >= 10  # furo's navigation to every notebook
    if name == 'index':
        assert page.get_by_text('The architecture').first.is_visible()
        assert any(i['src'].endswith('demo.png') for i in imgs), 'the demo screenshot is missing from the home page'
    else:  # the equations are typeset by the bundled MathJax, not left as TeX
        page.wait_for_selector('mjx-container', timeout=20_000)
        assert page.locator('text=def check_upload(').first.is_visible()
    assert not errors, errors
    page.screenshot(path=str(screenshots / shot))
    page.close()

def test_no_broken_source_links_copy_buttons_and_footer(site):
    import build_docs
    url = build_docs.repo_url()
    for name in ('18_demo', '14_evaluate'):
        page = (site / f'{name}.html').read_text()
        assert '#LNone' not in page, f'{name}: a source link without a line number'
        if not url: assert '>source<' not in page, f'{name}: source links, but pyproject.toml names no repository'
    assert 'copybutton.js' in (site / '18_demo.html').read_text()  # sphinx-copybutton: a copy button on every code block
    assert 'mtlface contributors' in text_of(site / 'index.html')   # the copyright footer is filled in
