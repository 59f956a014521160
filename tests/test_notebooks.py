"""The notebooks are the source: each exports one module, explains itself, and shows what it exports."""
import importlib, inspect, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / 'nbs').glob('[0-9][0-9]_*.ipynb'))
USAGE_NOTEBOOKS = {'16_walkthrough'}   # tell a story with the package; export nothing

def cells(nb_path):
    return json.loads(nb_path.read_text())['cells']

def source(cell): return ''.join(cell['source'])

def default_exp(nb_path):
    for c in cells(nb_path):
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', source(c), re.M)
        if m: return m.group(1)

def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 9, [p.name for p in NOTEBOOKS]

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_skeleton(nb):
    "Title, one-line summary, and a default_exp named after the notebook (usage notebooks: no exports at all)."
    first = source(cells(nb)[0])
    assert re.search(r'^# \S', first, re.M), f'{nb.name}: first cell needs a "# Title"'
    assert re.search(r'^> \S', first, re.M), f'{nb.name}: first cell needs a "> summary" line'
    mod = default_exp(nb)
    if nb.stem in USAGE_NOTEBOOKS:
        assert mod is None and not any(re.search(r'^#\|\s*export', source(c), re.M) for c in cells(nb)), \
            f'{nb.name} is a usage notebook: it must not export'
        return
    assert mod == nb.stem[3:], f'{nb.name}: default_exp {mod!r} should be {nb.stem[3:]!r}'
    assert (ROOT / 'mtlface' / f'{mod}.py').exists(), f'{nb.name}: mtlface/{mod}.py missing: run nbdev-export'

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_errors_in_stored_outputs(nb):
    for i, c in enumerate(cells(nb)):
        for o in c.get('outputs', []):
            assert o.get('output_type') != 'error', f'{nb.name} cell {i}: stored error output {o.get("ename")}'

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_exports_documented_and_shown(nb):
    "Every exported function and class has a docstring and is used or shown outside its definition cell."
    if nb.stem in USAGE_NOTEBOOKS: pytest.skip(f'{nb.name} exports nothing')
    mod = importlib.import_module(f'mtlface.{default_exp(nb)}')
    shown = '\n'.join(source(c) for c in cells(nb)
                      if c['cell_type'] == 'code' and not re.search(r'^#\|\s*export', source(c), re.M))
    problems = []
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not (inspect.isfunction(obj) or inspect.isclass(obj)): continue
        if not (obj.__doc__ or '').strip(): problems.append(f'{name}: no docstring')
        if not re.search(rf'\b{re.escape(name)}\b', shown): problems.append(f'{name}: never shown or used in {nb.name}')
    assert not problems, problems

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_docs_route_runs_only_what_it_needs(nb):
    """`nbdev-docs` (the Quarto route of `make docs`) re-runs every cell that exports, calls show_doc or imports
    anything, in a fresh kernel where the other cells never ran. A cell that mixes imports with code that needs
    earlier test cells then fails the docs build: its imports belong in the notebook's hidden import cell."""
    import ast
    if nb.stem in USAGE_NOTEBOOKS: pytest.skip(f'{nb.name}: nbdev-docs runs no cell of a notebook without exports')
    problems = []
    for i, c in enumerate(cells(nb)):
        src = source(c)
        if c['cell_type'] != 'code' or re.search(r'^#\|\s*(export|exports|exporti|exec_doc|eval:\s*false)', src, re.M): continue
        body = '\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))
        try: tree = ast.parse(body).body
        except SyntaxError: continue
        imports = [t for t in tree if isinstance(t, (ast.Import, ast.ImportFrom))]
        if imports and len(imports) < len(tree): problems.append(f'cell {i}: {src.splitlines()[0][:70]}')
    assert not problems, f'{nb.name}: cells that mix imports with other code (nbdev-docs would run them): {problems}'

def test_readme_links_resolve():
    "Every relative link and image of README.md (written from nbs/index.ipynb) points at a file of the repository."
    text = (ROOT / 'README.md').read_text()
    targets = re.findall(r'\]\(([^)\s]+)\)', text)
    local = [t.split('#')[0] for t in targets if not re.match(r'[a-z]+:', t) and not t.startswith('#')]
    assert local, 'README.md links nothing local?'
    # generated outputs (the demo's report, the docs build) are made by a command, not committed
    made_by_commands = ('runs/', 'docs/_build/')
    missing = [t for t in local if not t.startswith(made_by_commands) and not (ROOT / t).exists()]
    assert not missing, f'README.md links files that do not exist: {missing}'

MODULE_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.stem not in USAGE_NOTEBOOKS]

def _public_callables(mod):
    "(name, function) for every exported function and class of `mod`, and the public methods of its classes."
    import dataclasses
    for name in mod.__all__:
        obj = getattr(mod, name)
        if getattr(obj, '__module__', mod.__name__) != mod.__name__: continue   # re-exported from elsewhere
        if inspect.isfunction(obj): yield name, obj
        elif inspect.isclass(obj):
            if '__init__' in vars(obj) or dataclasses.is_dataclass(obj): yield name, obj
            for attr, f in vars(obj).items():
                if isinstance(f, (staticmethod, classmethod)): f = f.__func__
                if not attr.startswith('_') and inspect.isfunction(f): yield f'{name}.{attr}', f

@pytest.mark.parametrize('nb', MODULE_NOTEBOOKS, ids=lambda p: p.stem)
def test_public_parameters_have_docments(nb):
    "Every parameter of an exported function, class (`__init__` or dataclass field) or public method has a docment."
    from fastcore.docments import docments
    mod_name = default_exp(nb)
    mod = importlib.import_module(f'mtlface.{mod_name}')
    missing = []
    for name, f in _public_callables(mod):
        try: params = inspect.signature(f).parameters
        except (TypeError, ValueError): params = {}
        for p, d in docments(f, full=True).items():
            if p in ('self', 'cls', 'return'): continue
            if p in params and params[p].kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD): continue
            if not d.get('docment'): missing.append(f'{name}({p})')
    assert not missing, f'{nb.name}: parameters without a docment (a comment after the parameter): {missing}'

MAX_LINE = 120

@pytest.mark.parametrize('nb', sorted((ROOT / 'nbs').glob('*.ipynb')), ids=lambda p: p.stem)
def test_no_long_source_lines(nb):
    "No source line of a notebook, code or markdown, is longer than 120 characters."
    long = [f'cell {i} ({len(l)} chars): {l[:60]}…' for i, c in enumerate(cells(nb))
            for l in source(c).splitlines() if len(l) > MAX_LINE]
    assert not long, f'{nb.name}: lines over {MAX_LINE} characters: {long}'
