"""The web page for real: started here, its API called with gradio_client (the result equals
`inpaint`'s for the same image and mask), bad uploads answered on the page, and the page loaded
in headless Chromium (skipped where no browser is installed)."""

import shutil
import socket

import numpy as np
import pytest
from PIL import Image

from musical_inpaint.inpaint import main as inpaint_main
from tests.helpers import write_image

gr = pytest.importorskip("gradio")
client_module = pytest.importorskip("gradio_client")
from musical_inpaint.app import CENTRE, PAINTED, Methods, build  # noqa: E402
from musical_inpaint.inpaint import Resolution  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(checkpoint):
    methods = Methods([str(checkpoint)], device="cpu")
    page = build(methods)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/", methods
    page.close()


def stroke_layer(path, width, height):
    """An RGBA brush layer as the editor sends it: transparent but for a painted box."""
    layer = np.zeros((height, width, 4), np.uint8)
    layer[10:30, 20:45] = (255, 0, 255, 255)
    Image.fromarray(layer).save(path)
    return layer[..., 3] > 0


def test_the_api_gives_inpaints_own_output(served, checkpoint, tmp_path):
    url, methods = served
    image = write_image(tmp_path / "photo.jpg", 70, 57, seed=3)  # 70 wide, 57 high
    hole = stroke_layer(tmp_path / "layer.png", 70, 57)
    Image.fromarray(hole.astype(np.uint8) * 255).save(tmp_path / "mask.png")
    assert (
        inpaint_main(
            [
                "--checkpoint",
                str(checkpoint),
                "--image",
                str(image),
                "--mask",
                str(tmp_path / "mask.png"),
                "--output",
                str(tmp_path / "cli"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    client = client_module.Client(url, verbose=False)
    handle = client_module.handle_file
    editor = dict(background=None, layers=[handle(str(tmp_path / "layer.png"))], composite=None)
    masked, result, download = client.predict(
        handle(str(image)), editor, PAINTED, methods.names[0], api_name="/inpaint"
    )
    expected = np.array(Image.open(tmp_path / "cli" / "photo.png"))
    assert np.array_equal(np.array(Image.open(download)), expected)  # the same PNG as inpaint writes
    assert np.array_equal(np.array(Image.open(result).convert("RGB")), expected)
    assert (np.array(Image.open(masked).convert("RGB"))[hole] == 255).all()
    # The centre hole and a classical method, through the same call.
    _, _, telea = client.predict(handle(str(image)), editor, CENTRE, "telea (classical)", api_name="/inpaint")
    original = np.array(Image.open(image))
    out = np.array(Image.open(telea))
    known = np.ones(original.shape[:2], bool)
    known[14:43, 17:52] = False  # outside the centre hole of a 70 x 57 image: untouched
    assert out.shape == original.shape and np.array_equal(out[known], original[known])


def test_a_run_decodes_the_upload_once(served, tmp_path, monkeypatch):
    from musical_inpaint import app, inpaint

    _, methods = served
    image = write_image(tmp_path / "photo.png", 40, 32, seed=6)
    decoded = []
    read_image = inpaint.read_image
    monkeypatch.setattr(inpaint, "read_image", lambda path: decoded.append(path) or read_image(path))
    masked, result, download = app.run(methods, str(image), None, CENTRE, "telea (classical)", Resolution(), tmp_path)
    assert decoded == [image]
    assert np.array_equal(np.asarray(Image.open(download)), result) and masked.shape == result.shape


@pytest.mark.parametrize("content, message", [(b"", "is empty"), (b"not an image at all", "not an image")])
def test_bad_uploads_get_a_message_on_the_page(served, tmp_path, content, message):
    url, methods = served
    bad = tmp_path / "upload.png"
    bad.write_bytes(content)
    client = client_module.Client(url, verbose=False)
    with pytest.raises(Exception, match=message):
        client.predict(client_module.handle_file(str(bad)), None, CENTRE, methods.names[0], api_name="/inpaint")


def test_a_huge_upload_gets_a_message_on_the_page(served, tmp_path, monkeypatch):
    import musical_inpaint.app

    monkeypatch.setattr(musical_inpaint.app, "MAX_PIXELS", 1000)  # the server runs in this process
    url, methods = served
    image = write_image(tmp_path / "big.png", 50, 40)
    client = client_module.Client(url, verbose=False)
    with pytest.raises(Exception, match="50 x 40: more than .* --max-side"):
        client.predict(client_module.handle_file(str(image)), None, CENTRE, methods.names[0], api_name="/inpaint")


def test_the_command_line_names_a_bad_checkpoint(tmp_path, capsys):
    from musical_inpaint.app import main

    assert main(["--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert "app: " in capsys.readouterr().err


def test_the_page_fills_a_window_as_inpaint_does(served, checkpoint, tmp_path, capsys):
    from musical_inpaint import app
    from musical_inpaint.inference import load_generator
    from musical_inpaint.inpaint import generator_fill, inpaint_image

    _, methods = served
    image = write_image(tmp_path / "wide.png", 96, 40, seed=4)
    window = Resolution(crop_margin=4)
    _, _, download = app.run(methods, str(image), None, CENTRE, methods.names[0], window, tmp_path)
    network, _ = load_generator(checkpoint, "cpu")
    expected = inpaint_image(generator_fill(network, "cpu"), image, None, window)
    assert np.array_equal(np.asarray(Image.open(download)), np.asarray(expected))
    assert app.main(["--checkpoint", str(checkpoint), "--crop-margin", "-1"]) == 2
    assert "--crop-margin -1: must be a number of pixels >= 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, host, port", [([], "127.0.0.1", 7860), (["--host", "0.0.0.0", "--port", "8123"], "0.0.0.0", 8123)]
)
def test_the_command_line_serves_localhost_only_unless_told(checkpoint, monkeypatch, capsys, options, host, port):
    from musical_inpaint.app import main

    launched = []  # what the page would be served with; nothing is served
    monkeypatch.setattr(gr.Blocks, "launch", lambda page, *args, **kwargs: launched.append((args, kwargs)))
    assert main(["--checkpoint", str(checkpoint), "--device", "cpu", *options]) == 0
    assert launched == [((), dict(server_name=host, server_port=port))]
    assert f"serving on http://{host}:{port}" in capsys.readouterr().out


def test_nothing_painted_says_what_to_do(served, tmp_path):
    url, methods = served
    image = write_image(tmp_path / "a.png", 40, 40, seed=1)
    client = client_module.Client(url, verbose=False)
    editor = dict(background=None, layers=[], composite=None)
    with pytest.raises(Exception, match="paint over what should go"):
        client.predict(client_module.handle_file(str(image)), editor, PAINTED, methods.names[0], api_name="/inpaint")


@pytest.mark.skipif(
    not (shutil.which("chromium") and shutil.which("chromedriver")), reason="needs chromium and chromedriver"
)
def test_the_page_loads_in_a_headless_browser(served, tmp_path):
    from tests.helpers.browser import screenshot

    url, _ = served
    path, text = screenshot(url, tmp_path / "page.png")
    with Image.open(path) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    assert shot.size[0] >= 800 and pixels.std() > 5  # not a blank page
    for component in ("paint the hole", "method", "Run", "result", "download"):
        assert component in text, component
