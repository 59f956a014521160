#!/usr/bin/env python
"""Render a notebook, with its stored outputs, to Markdown without Quarto.

Used to write README.md from nbs/index.ipynb (`make readme`). Cell directives follow nbdev/Quarto:
`#| hide` drops a cell, `#| echo: false` keeps only its outputs, `#| output: false` keeps only its source.
Image outputs are written next to the notebook under `images/` and linked relative to the Markdown file.
"""
import argparse, base64, hashlib, json, os, posixpath, re, sys
from pathlib import Path

def directives(src: str) -> dict:
    "The `#| key: value` lines at the top of a cell."
    out = {}
    for line in src.splitlines():
        m = re.match(r'\s*#\|\s*([\w-]+)\s*:?\s*(.*)', line)
        if not m: break
        out[m.group(1)] = m.group(2).strip() or True
    return out

def strip_directives(src: str) -> str:
    lines = src.splitlines()
    while lines and re.match(r'\s*#\|', lines[0]): lines.pop(0)
    return '\n'.join(lines).strip('\n')

def relink(md: str, prefix: str) -> str:
    "Prefix relative Markdown links/images so they resolve from the Markdown file's folder."
    if prefix in ('', '.'): return md
    return re.sub(r'\]\((?!https?:|#|/)([^)\s]*)', lambda m: f']({posixpath.normpath(prefix + "/" + m.group(1))}', md)

def render_output(o: dict, img_dir: Path, rel: str, prefix: str = '', write: bool = True) -> str:
    kind = o.get('output_type')
    if kind == 'stream': return fence(''.join(o['text']).rstrip('\n'))
    if kind in ('execute_result', 'display_data'):
        data = o.get('data', {})
        if 'image/png' in data:
            raw = base64.b64decode(data['image/png'])
            name = f'{hashlib.sha1(raw).hexdigest()[:12]}.png'
            if write: img_dir.mkdir(parents=True, exist_ok=True); (img_dir / name).write_bytes(raw)
            return f'![]({rel}/{name})'
        if 'text/markdown' in data: return relink(''.join(data['text/markdown']).strip('\n'), prefix)
        if 'text/plain' in data: return fence(''.join(data['text/plain']).rstrip('\n'))
    if kind == 'error': raise SystemExit(f'notebook has an error output: {o.get("ename")}: {o.get("evalue")}')
    return ''

def fence(text: str, lang: str = '') -> str: return f'```{lang}\n{text}\n```'

def notebook_to_markdown(nb_path: Path, md_path: Path, write_images: bool = True) -> str:
    "Markdown text of `nb_path` as seen from `md_path`; with `write_images`, (re)write its pictures."
    nb = json.loads(nb_path.read_text())
    img_dir = nb_path.parent / 'images' / nb_path.stem
    rel = os.path.relpath(img_dir, md_path.parent).replace(os.sep, '/')
    if write_images and img_dir.exists():
        for old in img_dir.glob('*.png'): old.unlink()  # no stale pictures
    prefix = os.path.relpath(nb_path.parent, md_path.parent).replace(os.sep, '/')
    parts = []
    for cell in nb['cells']:
        src = ''.join(cell['source']); d = directives(src)
        if 'hide' in d or d.get('include') == 'false': continue
        if cell['cell_type'] == 'markdown':
            parts.append(relink(src, prefix)); continue
        if cell['cell_type'] != 'code': continue
        body = strip_directives(src)
        if d.get('echo') != 'false' and body: parts.append(fence(body, 'python'))
        if d.get('output') != 'false':
            parts += [r for r in (render_output(o, img_dir, rel, prefix, write_images) for o in cell.get('outputs', [])) if r]
    note = f'<!-- generated from {os.path.relpath(nb_path, md_path.parent)} by tools/nb2md.py: edit the notebook -->\n\n'
    return note + '\n\n'.join(p.strip('\n') for p in parts if p.strip()) + '\n'

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebook', type=Path); ap.add_argument('markdown', type=Path)
    ap.add_argument('--check', action='store_true', help='exit 1 if the Markdown file is not what the notebook renders to')
    a = ap.parse_args()
    if a.check:
        ok = a.markdown.exists() and a.markdown.read_text() == notebook_to_markdown(a.notebook, a.markdown, write_images=False)
        if not ok: sys.exit(f'{a.markdown} is out of date with {a.notebook}: run `make readme`')
        print(f'{a.markdown} is up to date'); sys.exit(0)
    a.markdown.write_text(notebook_to_markdown(a.notebook, a.markdown))
    print(f'wrote {a.markdown}')
