# Sphinx settings of the docs site that `make docs` builds without Quarto (tools/build_docs.py stages the notebooks).
project = 'mtlface'
author = 'mtlface contributors'
copyright = '2026, mtlface contributors (Apache-2.0). MTLFace: Huang, Zhang and Shan, CVPR 2021'  # furo's footer
html_title = 'mtlface'
extensions = ['myst_nb', 'sphinx-mathjax-offline',  # MathJax served from the site itself: no CDN needed
              'sphinx_copybutton']                 # a copy button on every code block
copybutton_exclude = '.linenos, .gp, .go'            # copy the code, not prompts or outputs
html_theme = 'furo'
nb_execution_mode = 'off'              # never run a notebook: the pages show the outputs nbdev-test stored
nb_render_markdown_format = 'myst'     # show_doc output uses MyST/pandoc link attributes
myst_enable_extensions = ['dollarmath', 'attrs_inline', 'colon_fence']
myst_heading_anchors = 3
nb_output_stderr = 'remove'
exclude_patterns = ['_build', 'jupyter_execute', '**.ipynb_checkpoints']
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure']
html_static_path = []
