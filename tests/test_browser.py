"""The ageing demo in a real browser: Voila serves apps/aging_demo.ipynb on 127.0.0.1, Playwright drives Debian's Chromium.

The app loads `runs/demo/model` when `make demo` has written it, else a random tiny model saved for the test:
either way the slider must change the aged face, a bad upload must give a message and leave the demo working,
and a good upload must become the input. The page is saved to a temporary folder; `make screenshots` saves it
to docs/screenshots/demo.png (shown in the README) instead.
"""
import io, os, socket, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import numpy as np
import pytest
from conftest import ROOT, free_port, require

APP = ROOT / 'apps' / 'aging_demo.ipynb'

def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: raise RuntimeError(f'voila exited with {proc.returncode}')
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1): return
        except OSError: time.sleep(0.3)
    raise TimeoutError(f'voila did not listen on 127.0.0.1:{port} within {timeout} s')

@pytest.fixture(scope='module')
def model_dir(tmp_path_factory):
    made = ROOT / 'runs' / 'demo' / 'model'
    if (made / 'config.json').exists(): return made
    # no `make demo` model: a random one whose generator weights are N(0, 0.08) rather than the initial N(0, 0.01),
    # so that its renders differ from group to group (an untrained generator is the identity; see nbs/18_demo)
    from mtlface.core import config_from_preset, seed_everything
    from mtlface.gan import init_normal
    from mtlface.model import MTLFace
    seed_everything(0)
    model = MTLFace(config_from_preset('tiny'))
    init_normal(model.generator, std=0.08)
    return model.save_pretrained(tmp_path_factory.mktemp('demo') / 'model')

@contextmanager
def serve_app(log: Path, **env_vars):
    "Voila serving the demo app on a free port of 127.0.0.1, its kernel importing this tree's mtlface; yields the URL."
    require('voila', 'playwright')
    port = free_port()
    env = dict(os.environ, **env_vars,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    with open(log, 'w') as out:
        proc = subprocess.Popen([sys.executable, '-m', 'voila', str(APP), '--no-browser', f'--port={port}',
                                 '--Voila.ip=127.0.0.1', '--show_tracebacks=True'],
                                cwd=APP.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, proc)
            yield f'http://127.0.0.1:{port}/'
        finally:
            proc.terminate()
            try: proc.wait(15)
            except subprocess.TimeoutExpired: proc.kill(); proc.wait()
    print(log.read_text()[-3000:])

@pytest.fixture(scope='module')
def voila_url(model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('voila')
    with serve_app(tmp / 'voila.log', MTLFACE_DEMO_MODEL=str(model_dir), MTLFACE_DEMO_QUICK=str(tmp / 'quick')) as url:
        yield url

def png(img, mode='RGB') -> bytes:
    from PIL import Image
    buf = io.BytesIO(); Image.fromarray(img).convert(mode).save(buf, 'png'); return buf.getvalue()

def pixels(shot: bytes) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.open(io.BytesIO(shot)).convert('RGB')).astype(int)

def wait_until(check, what: str, timeout: float = 60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if check(): return
        time.sleep(0.25)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')

def test_demo_in_chromium(voila_url, browser, screenshots):
    t0 = time.time()
    page = browser.new_page(viewport={'width': 1280, 'height': 1000})
    page.goto(voila_url, timeout=300_000)  # Voila answers once the app's cell has run
    page.wait_for_selector('.mtlface-demo .mtlface-output img', timeout=300_000)
    out_img, out_caption = page.locator('.mtlface-output img'), page.locator('.mtlface-output .widget-html')
    wait_until(lambda: 'estimated age' in out_caption.inner_text(), 'the first aged face')
    assert '0-10' in out_caption.inner_text()
    before = out_img.screenshot()

    # move the slider with the keyboard, as a user can: the aged face and its caption change
    page.locator('.mtlface-demo .noUi-handle').first.focus()
    for _ in range(4): page.keyboard.press('ArrowRight')
    wait_until(lambda: '41-50' in out_caption.inner_text(), 'the caption to follow the slider to 41-50')
    wait_until(lambda: not np.array_equal(pixels(out_img.screenshot()), pixels(before)), 'the aged face to change')
    assert pixels(out_img.screenshot()).std() > 1, 'the aged face is a blank image'

    # a refused upload leaves a message, and the demo keeps working
    from mtlface.synth import identities, render
    face = render(identities(1, seed=7)[0], 30, size=128)
    def upload(name, data):  # click the upload button, answer the file chooser as a user would
        with page.expect_file_chooser() as chooser: page.locator('.mtlface-demo .widget-upload').click()
        chooser.value.set_files(files=[dict(name=name, mimeType='image/png', buffer=data)])
    upload('gray.png', png(face, 'L'))
    message = page.locator('.mtlface-message')
    message.wait_for(timeout=60_000)
    assert 'gray.png' in message.inner_text() and 'grayscale' in message.inner_text(), message.inner_text()
    shown = pixels(out_img.screenshot())
    page.keyboard.press('Tab')  # off the upload button
    page.locator('.mtlface-demo .noUi-handle').first.focus(); page.keyboard.press('ArrowRight')
    wait_until(lambda: '51-60' in out_caption.inner_text(), 'the slider to work after a refused upload')
    wait_until(lambda: not np.array_equal(pixels(out_img.screenshot()), shown), 'the aged face to change again')

    # a photo is aligned first: the aligned crop becomes the input and a note says how it was found
    in_img = page.locator('.mtlface-input img')
    old_input = pixels(in_img.screenshot())
    skdata = pytest.importorskip('skimage.data')
    upload('astronaut.jpg', png(skdata.astronaut()))
    wait_until(lambda: 'one face found' in page.locator('.mtlface-demo').inner_text(), 'the note on the aligned photo')
    wait_until(lambda: not np.array_equal(pixels(in_img.screenshot()), old_input), 'the aligned photo to be shown')
    assert 'upload: astronaut.jpg' in page.locator('.mtlface-demo select').input_value()

    # an aligned crop (square, RGB, 128 px), with "already aligned" ticked, becomes the input as it is
    page.locator('.mtlface-aligned input[type=checkbox]').check()
    old_input = pixels(in_img.screenshot())
    upload('face.png', png(face))
    wait_until(lambda: page.locator('.mtlface-message').count() == 0, 'the message to clear')
    wait_until(lambda: not np.array_equal(pixels(in_img.screenshot()), old_input), 'the uploaded face to be shown')
    assert 'upload: face.png' in page.locator('.mtlface-demo select').input_value()

    # every group side by side: one card per group, the single output hidden
    page.locator('.mtlface-all-groups input[type=checkbox]').check()
    page.locator('.mtlface-group-6 img').wait_for(state='visible', timeout=60_000)
    assert page.locator('[class*="mtlface-group-"] img').count() == 7
    assert not out_img.is_visible()
    page.screenshot(path=str(screenshots / 'demo.png'), full_page=True)
    print(f'browser session {time.time() - t0:.1f} s')
    page.close()

def test_demo_trains_a_model_when_there_is_none(tmp_path, browser):
    "No model anywhere: the page shows a progress bar that moves while a tiny model trains, then the demo."
    with serve_app(tmp_path / 'voila.log', MTLFACE_DEMO_MODEL=str(tmp_path / 'absent'),
                   MTLFACE_DEMO_QUICK=str(tmp_path / 'quick'), MTLFACE_DEMO_ITERATIONS='4') as url:
        page = browser.new_page(viewport={'width': 1280, 'height': 700})
        page.goto(url, timeout=300_000)
        bar, panel = page.locator('.mtlface-launcher .progress-bar'), page.locator('.mtlface-launcher')
        t0, widths, note = time.time(), [], ''
        while page.locator('.mtlface-demo').count() == 0:  # sample the bar until the demo replaces it
            if bar.count() and bar.is_visible():
                widths.append(bar.evaluate('e => parseFloat(e.style.width) || 0')); note = panel.inner_text()
            assert time.time() - t0 < 600, 'no demo after 10 minutes of training'
            time.sleep(0.25)
        print('progress bar widths seen:', sorted(set(widths)))
        assert widths, 'the progress bar was never shown'
        assert max(widths) > 0, f'the progress bar never moved: {sorted(set(widths))}'
        assert 'training a tiny one for 4 iterations' in note, note
        status = page.locator('.mtlface-demo').inner_text()
        assert 'trained a tiny one' in status, status
        assert 'synthetic faces only' in status and 'does not transfer to photos' in status, status   # the model card
        assert (tmp_path / 'quick' / 'run' / 'model' / 'config.json').exists()
        page.locator('.mtlface-output img').wait_for(state='visible')
        page.close()
