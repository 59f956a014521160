#!/usr/bin/env python
"""Build the docs site from the notebooks' stored outputs without Quarto: fixed-up notebook copies → Sphinx + myst-nb + furo.

No notebook cell is executed: what the pages show is what `nbdev-test --save` stored. Every notebook in nbs/ (not
starting with `_` or `.`) becomes a page; nbs/index.ipynb is the home page and lists the others. nbdev's cell
directives become myst-nb tags (`#| hide` drops a cell, `#| echo: false` hides its code, `#| output: false` its
outputs), and a cell that only calls `show_doc` shows its documentation without the call; live-widget outputs and stderr (progress bars, warnings) are dropped; show_doc's [source] links point at
`git_url` of `[tool.nbdev]` in pyproject.toml, or are dropped when it is not set (never a broken address); an
exported function or class that the notebook does not `show_doc` gets its signature and docstring in an "API"
section at the end of its page.

    python tools/build_docs.py               # → docs/_build/html/index.html
    python tools/build_docs.py --out DIR     # → DIR/html (DIR/src holds the fixed-up notebooks)
"""
import argparse, importlib, inspect, json, re, shutil, subprocess, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from nb2md import directives, strip_directives   # the same nbdev cell directives as the README renderer

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'

def drop_rule(md: str) -> str: return re.sub(r'\A\s*---\s*\n', '', md)

SOURCE_LINK = re.compile(r'\[source\]\(([^)\s]*)\)(\{[^}]*\})?')

def repo_url(pyproject: Path = ROOT / 'pyproject.toml'):
    "The repository's URL if `[tool.nbdev]` of pyproject.toml names one (`git_url`), else None."
    section = re.search(r'^\[tool\.nbdev\]\s*$(.*?)(?=^\[|\Z)', pyproject.read_text(), re.M | re.S)
    m = section and re.search(r'^git_url\s*=\s*["\']([^"\']+)["\']', section.group(1), re.M)
    return m.group(1) if m else None

def fix_source_links(md: str, url=None) -> str:
    "show_doc's [source] links: pointed at `url` when the repository is configured, else dropped (never a broken link)."
    def fix(m):
        if not url or '/blob/' not in m.group(1): return ''
        path = m.group(1).split('/blob/', 1)[1].removesuffix('#LNone')  # no line number: link the file
        return f'[source]({url.rstrip("/")}/blob/{path}){m.group(2) or ""}'
    return SOURCE_LINK.sub(fix, md)

def clean_output(o: dict):
    "The output as a static page should show it, or None to drop it."
    if o.get('output_type') == 'stream':
        if o.get('name') == 'stderr': return None
        return {**o, 'text': ANSI.sub('', ''.join(o['text']))}
    if o.get('output_type') in ('display_data', 'execute_result'):
        data = o.get('data', {})
        if WIDGET_MIME in data: return None  # a live widget: nothing to show without a kernel
        if 'text/markdown' in data:  # show_doc's leading rule is not allowed inside an output by docutils
            return {**o, 'data': {**data, 'text/markdown': fix_source_links(drop_rule(''.join(data['text/markdown'])), repo_url())}}
    if o.get('output_type') == 'error': raise SystemExit(f'stored error output: {o.get("ename")}: {o.get("evalue")}')
    return o

SHOW_DOC_LINE = re.compile(r'^\s*show_doc\(.*\)\s*(#.*)?$')

def clean_cell(cell: dict):
    "The cell with nbdev directives turned into myst-nb tags, or None to drop it."
    cell = {**cell, 'metadata': {k: v for k, v in cell.get('metadata', {}).items() if k not in ('execution', 'tags')}}
    if cell['cell_type'] != 'code': return cell
    src = ''.join(cell['source']); d = directives(src)
    if 'hide' in d or 'default_exp' in d or str(d.get('include')) == 'false': return None
    only_show_doc = all(SHOW_DOC_LINE.match(l) for l in strip_directives(src).splitlines() if l.strip())
    hide_input = str(d.get('echo')) == 'false' or only_show_doc      # a page shows the docs, not the call that made them
    tags = (['remove-input'] if hide_input else []) + (['remove-output'] if str(d.get('output')) == 'false' else [])
    if tags: cell['metadata']['tags'] = tags
    cell['source'] = strip_directives(src)
    cell['outputs'] = [c for c in map(clean_output, cell.get('outputs', [])) if c is not None]
    if not cell['source'] and not cell['outputs']: return None
    return cell

def md_cell(text: str, id: str) -> dict: return {'cell_type': 'markdown', 'id': id, 'metadata': {}, 'source': text}

def default_exp(nb: dict):
    for c in nb['cells']:
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
        if m: return m.group(1)

def api_section(nb: dict, lib: str):
    "Signatures and docstrings of the module's exports that the notebook does not `show_doc`, as one markdown cell."
    mod = default_exp(nb)
    if not mod: return None
    from nbdev.showdoc import show_doc
    module = importlib.import_module(f'{lib}.{mod}')
    code = '\n'.join(''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code')
    shown = set(re.findall(r'show_doc\(\s*([\w.]+)', code))
    docs = [fix_source_links(drop_rule(show_doc(getattr(module, n), title_level=3)._repr_markdown_()), repo_url()) for n in getattr(module, '__all__', [])
            if n not in shown and (inspect.isfunction(getattr(module, n)) or inspect.isclass(getattr(module, n)))]
    if not docs: return None
    return md_cell(f'## API\n\nThe rest of what `{lib}.{mod}` exports, with signatures and docstrings.\n\n' + '\n\n'.join(docs), 'api-section')

def fix_notebook(nb: dict, lib: str = 'mtlface') -> dict:
    "A copy of `nb` that myst-nb renders as nbdev would, from its stored outputs."
    cells = [c for c in map(clean_cell, nb['cells']) if c is not None]
    api = api_section(nb, lib)
    meta = {k: v for k, v in nb.get('metadata', {}).items() if k in ('kernelspec', 'language_info')}
    return {**nb, 'metadata': meta, 'cells': cells + ([api] if api else [])}

def notebooks(nbs: Path) -> list[Path]:
    "Every notebook that is a page: nbs/*.ipynb except names starting with `_` or `.`, index first."
    found = sorted(p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    return sorted(found, key=lambda p: p.stem != 'index')

def pull_in_assets(cell: dict, nbs: Path, src: Path) -> dict:
    "Copy files that a markdown cell links outside nbs/ (e.g. ../docs/screenshots/demo.png) into the site, and relink them."
    def fix(m):
        path = (nbs / m.group(2)).resolve()
        if path.is_relative_to(nbs.resolve()) or not path.is_file(): return m.group(0)
        rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else Path(path.name)
        dest = src / 'assets' / rel
        dest.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(path, dest)
        return f'{m.group(1)}(assets/{rel.as_posix()})'
    if cell['cell_type'] != 'markdown': return cell
    return {**cell, 'source': re.sub(r'(!?\[[^\]]*\])\((?!https?:|#|/)([^)\s]+)\)', fix, ''.join(cell['source']))}

def stage(nbs: Path, src: Path):
    "Write the fixed-up notebooks and their assets (nbs/images, …) into `src`."
    if src.exists(): shutil.rmtree(src)
    shutil.copytree(nbs, src, ignore=lambda d, names: [n for n in names if n.endswith('.ipynb') or n.startswith(('_', '.'))])
    pages = notebooks(nbs)
    if not pages or pages[0].stem != 'index': raise SystemExit(f'{nbs}/index.ipynb is missing: it is the home page')
    for p in pages:
        nb = fix_notebook(json.loads(p.read_text()))
        nb['cells'] = [pull_in_assets(c, nbs, src) for c in nb['cells']]
        if p.stem == 'index':  # the sidebar: every other notebook, in order
            nb['cells'].append(md_cell('```{toctree}\n:hidden:\n:maxdepth: 1\n\n' + '\n'.join(q.stem for q in pages[1:]) + '\n```', 'toctree'))
        (src / p.name).write_text(json.dumps(nb, indent=1))
    return pages

def build(out: Path, nbs: Path = ROOT / 'nbs', conf: Path = ROOT / 'docs') -> Path:
    "Stage the notebooks into out/src and build out/html with Sphinx; returns the html folder."
    t0 = time.time()
    pages = stage(nbs, out / 'src')
    html = out / 'html'
    cmd = [sys.executable, '-m', 'sphinx', '-q', '-b', 'html', '-c', str(conf), '-w', str(out / 'warnings.log'),
           str(out / 'src'), str(html)]
    subprocess.run(cmd, check=True, cwd=out)  # myst-nb's jupyter_execute/ folder lands in `out`
    print(f'{len(pages)} pages → {html / "index.html"} in {time.time() - t0:.1f} s')
    return html

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, default=ROOT / 'docs' / '_build', help='build folder (default docs/_build)')
    build(ap.parse_args().out.resolve())
