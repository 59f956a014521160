"""Shared pieces of the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser)."""
import importlib.util, os, socket
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get('MTLFACE_CHROMIUM', '/usr/bin/chromium'))
SCREENSHOTS = ROOT / 'docs' / 'screenshots'
# the flags TOOLING.md found to work headless in a container, with no network traffic of the browser's own
CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync']

def require(*modules: str, chromium: bool = True):
    "Skip the test, saying what is missing, unless the modules (and Chromium) are there; fail instead under MTLFACE_REQUIRE_BROWSER=1."
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if chromium and not CHROMIUM.exists(): missing.append(str(CHROMIUM))
    if not missing: return
    msg = (f'needs {", ".join(missing)}: `make test-browser` installs them '
           f'(Debian package chromium, pip extras [docs,browser])')
    if os.environ.get('MTLFACE_REQUIRE_BROWSER') == '1': pytest.fail(msg)
    pytest.skip(msg)

def free_port() -> int:
    "A TCP port on 127.0.0.1 that nothing listens on now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@pytest.fixture(scope='session')
def browser():
    "A headless Chromium (the Debian one at /usr/bin/chromium) under Playwright."
    require('playwright')
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
