"""Shared pieces of the browser tests: Debian's Chromium driven by Playwright (never a downloaded browser)."""
import hashlib, importlib.util, os, socket, subprocess
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get('MTLFACE_CHROMIUM', '/usr/bin/chromium'))
# Tests never write tracked files: screenshots go to a temporary folder unless MTLFACE_SCREENSHOTS names one
# (`make screenshots` points it at docs/screenshots to refresh the pictures the README shows).
SCREENSHOTS = Path(os.environ['MTLFACE_SCREENSHOTS']) if os.environ.get('MTLFACE_SCREENSHOTS') else None
# the flags found to work headless in a container, with no network traffic of the browser's own
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

def tiny_synthetic_data(folder: Path) -> Path:
    "The 12-person, 32 px synthetic set that the training and fault tests share (written into `folder`)."
    from mtlface.synth_data import SynthSpec, write_synthetic_dataset
    write_synthetic_dataset(folder, SynthSpec(n_identities=12, images_per_identity=8, size=32, folds=2, pairs_per_fold=5,
                                              test_fraction=0.25, write_rec=False), progress=False)
    return folder

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

@pytest.fixture
def screenshots(tmp_path) -> Path:
    "Where a test saves its screenshots: MTLFACE_SCREENSHOTS if set (make screenshots), else a temporary folder."
    d = SCREENSHOTS or tmp_path / 'screenshots'
    d.mkdir(parents=True, exist_ok=True)
    return d

def tracked_state(root: Path = ROOT):
    "A fingerprint of every tracked file's content as git sees it (None outside a git checkout)."
    try: r = subprocess.run(['git', '-C', str(root), 'diff', '--binary', 'HEAD'], capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired): return None
    return hashlib.sha1(r.stdout).hexdigest() if r.returncode == 0 else None

@pytest.fixture(scope='session', autouse=True)
def tracked_files_untouched():
    "Fail the session if any test changed a tracked file (tests write only to temporary folders)."
    if os.environ.get('MTLFACE_SCREENSHOTS'): yield; return   # make screenshots rewrites docs/screenshots on purpose
    before = tracked_state()
    yield
    if before is not None and tracked_state() != before:
        changed = subprocess.run(['git', '-C', str(ROOT), 'diff', '--name-only', 'HEAD'], capture_output=True, text=True).stdout.split()
        pytest.fail(f'the tests changed tracked files: {changed} (tests must write only to temporary folders)')
