"""The README's picture of the web page in use (docs/app.png): the page is served here with one
checkpoint, and headless Chromium uploads a photo, paints a hole over part of it with the editor's
brush, runs the checkpoint on the painted strokes and saves the page with the masked input and the
result shown.

    python docs/screenshot_app.py CHECKPOINT PHOTO OUTPUT.png [--stroke 'X,Y X,Y ...' ...]

Each `--stroke` is a drag of the brush through those points of the photo (its pixels); the default
strokes cover the polar bear in BSDS500's test photo 100007.jpg, as a person would paint it.
Needs the `app` extra (Gradio), selenium, and Debian's `chromium` and `chromium-driver`.

docs/app.png was made on 2026-12-06 at commit fc874cb (the page's and the training's code), from
the repository's root, with the benchmark's photos in DATA (docs/data.md says where they come from):

    PYTHONPATH=src python -m musical_inpaint.train experiment=photos_cpu paths.data_dir=DATA \\
        trainer.max_time=00:00:15:00 trainer.enable_progress_bar=false hydra.run.dir=/tmp/screenshot_run
    mv /tmp/screenshot_run /tmp/photos_cpu_15min    # the page names the checkpoint after its run folder
    PYTHONPATH=src python docs/screenshot_app.py /tmp/photos_cpu_15min/checkpoints/last.ckpt \\
        DATA/bsds500/test/100007.jpg docs/app.png

That checkpoint is the photos_cpu recipe (BSDS500's training and validation photos and Urban100's
img_001-080, less 40 held out for validation; 64 x 64 crops) stopped by its time limit after 15
minutes on 2 shared CPU cores: 149 of the 18,000 steps the recipe is made for, its cosine decay
compressed into those 15 minutes; its validation hole L1 was 11.65 % (Telea on the same images:
11.29 %). A weak model, shown as the page shows any model, on a test photo it never saw: its fill
is a blue-grey grid, not snow.
"""

from __future__ import annotations

import argparse
import math
import shutil
import socket
import sys
import time
from itertools import pairwise
from pathlib import Path

from PIL import Image

from musical_inpaint.app import PAINTED, Methods, build
from musical_inpaint.inference import CheckpointError

# Brush strokes (the photo's pixels) over the polar bear in bsds500/test/100007.jpg, its feet and
# shadow included, with the page's brush (24 pixels): back, belly, legs, ground.
BEAR = [
    [(112, 152), (150, 144), (190, 144), (215, 152), (236, 170)],
    [(110, 168), (160, 164), (205, 164), (232, 178)],
    [(108, 182), (160, 182), (200, 182), (226, 192)],
    [(104, 200), (140, 202), (180, 202), (228, 202)],
]
WINDOW = (1280, 1100)  # wide enough for the page's two columns, tall enough for the whole page


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium(width: int, height: int):
    """Headless Chromium, as tests/helpers/browser.py starts it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        raise SystemExit("screenshot_app: needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def block(driver, label: str):
    """The page's component whose label reads `label`."""
    from selenium.webdriver.common.by import By

    return driver.find_element(
        By.XPATH,
        f"//label[@data-testid='block-label'][normalize-space(.)='{label}']"
        "/ancestor::div[contains(@class, 'block')][1]",
    )


def parse_stroke(text: str) -> list[tuple[int, int]]:
    """'X,Y X,Y ...' (the photo's pixels) -> points."""
    try:
        points = [tuple(int(value) for value in point.split(",")) for point in text.split()]
    except ValueError:
        points = []
    if len(points) < 2 or any(len(point) != 2 for point in points):
        raise argparse.ArgumentTypeError(f"{text!r}: must be two points or more, 'X,Y X,Y ...' in the photo's pixels")
    return points


def along(stroke: list[tuple[int, int]], spacing: float = 4.0) -> list[tuple[float, float]]:
    """The stroke's polyline with a point at most `spacing` pixels apart: the pointer passes every
    stretch of it, as a hand's drag would."""
    points = [stroke[0]]
    for (x0, y0), (x1, y1) in pairwise(stroke):
        steps = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / spacing))
        points += [(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps) for i in range(1, steps + 1)]
    return points


def paint(driver, photo_size: tuple[int, int], strokes: list[list[tuple[int, int]]]) -> None:
    """Drag the brush along `strokes` (the photo's pixels) on the editor's canvas, which shows the
    photo centred at the zoom the editor reports."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    editor = block(driver, "paint the hole")
    brush = editor.find_element(By.CSS_SELECTOR, "button[aria-label='Brush']")
    if "highlight" not in brush.get_attribute("class"):  # the chosen tool is highlighted
        brush.click()
    canvas = editor.find_element(By.CSS_SELECTOR, ".pixi-target canvas")
    zoom = float(editor.find_element(By.CSS_SELECTOR, ".zoom-number span").text.rstrip("%")) / 100
    width, height = photo_size

    def offset(point):  # selenium counts offsets from the canvas's centre, where the photo's centre is
        return round((point[0] - width / 2) * zoom), round((point[1] - height / 2) * zoom)

    for stroke in strokes:
        points = [offset(point) for point in along(stroke)]
        actions = ActionChains(driver, duration=10)
        actions.move_to_element_with_offset(canvas, *points[0]).click_and_hold()
        for (x0, y0), (x1, y1) in pairwise(points):
            actions.move_by_offset(x1 - x0, y1 - y0)
        actions.release().perform()


def wait_for_result(driver, timeout: float) -> None:
    """Until the masked input and the result are shown and loaded; a message on the page (gr.Error)
    ends the wait with that message."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for toast in driver.find_elements(By.CSS_SELECTOR, ".toast-body"):
            raise SystemExit(f"screenshot_app: the page says: {toast.text}")
        images = [block(driver, label).find_elements(By.TAG_NAME, "img") for label in ("masked input", "result")]
        if all(images) and all(
            driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", found[0])
            for found in images
        ):
            return
        time.sleep(0.5)
    raise SystemExit(f"screenshot_app: no result on the page after {timeout:.0f} s")


def screenshot(
    checkpoint: str,
    photo: Path,
    output: Path,
    strokes: list[list[tuple[int, int]]],
    device: str,
    timeout: float = 300.0,
) -> Path:
    """Serve the page with `checkpoint`, use it on `photo` with a hole painted along `strokes`, and
    save the page, cropped to its components, as `output`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not photo.is_file():
        raise SystemExit(f"screenshot_app: no photo {photo}")
    with Image.open(photo) as opened:
        photo_size = opened.size
    for point in (point for stroke in strokes for point in stroke):
        if not (0 <= point[0] < photo_size[0] and 0 <= point[1] < photo_size[1]):
            raise SystemExit(
                f"screenshot_app: --stroke point {point[0]},{point[1]} is outside {photo.name}, "
                f"{photo_size[0]} x {photo_size[1]}"
            )
    try:
        methods = Methods([checkpoint], device=device)
    except CheckpointError as error:
        raise SystemExit(f"screenshot_app: {error}") from None
    page = build(methods)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    driver = chromium(*WINDOW)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        WebDriverWait(driver, timeout).until(lambda d: "Run" in d.find_element(By.TAG_NAME, "body").text)
        block(driver, "image").find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(photo.resolve()))
        WebDriverWait(driver, timeout).until(  # the photo is on the canvas once the editor shows its zoom
            lambda d: block(d, "paint the hole").find_elements(By.CSS_SELECTOR, ".zoom-number span")
        )
        time.sleep(1.0)  # the canvas fits the photo to its size just after it appears
        paint(driver, photo_size, strokes)
        driver.find_element(By.XPATH, f'//label[.//input[@value="{PAINTED}"]]').click()
        driver.find_element(By.XPATH, "//button[normalize-space(.)='Run']").click()
        wait_for_result(driver, timeout)
        time.sleep(1.0)  # the images fade in
        parts = [
            driver.find_element(By.CSS_SELECTOR, ".gradio-container .prose"),  # the page's title
            block(driver, "download the PNG (as inpaint writes it)"),
            driver.find_element(By.XPATH, "//button[normalize-space(.)='Run']"),
        ]
        rects = [part.rect for part in parts]
        driver.save_screenshot(str(output))
    finally:
        driver.quit()
        page.close()
    margin = 16  # CSS pixels around the components; the footer below them is left out
    left = min(rect["x"] for rect in rects) - margin
    top = min(rect["y"] for rect in rects) - margin
    bottom = max(rect["y"] + rect["height"] for rect in rects) + margin
    right = max(rect["x"] + rect["width"] for rect in rects) + margin
    with Image.open(output) as shot:
        scale = shot.size[0] / WINDOW[0]  # device pixels per CSS pixel
        box = [round(value * scale) for value in (max(0, left), max(0, top), right, bottom)]
        cropped = shot.crop((box[0], box[1], min(shot.size[0], box[2]), min(shot.size[1], box[3])))
    cropped.save(output)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint or run folder, as the page's --checkpoint takes")
    parser.add_argument("photo", type=Path)
    parser.add_argument("output", type=Path, help="the PNG to write")
    parser.add_argument(
        "--stroke",
        type=parse_stroke,
        action="append",
        metavar="'X,Y X,Y ...'",
        help="a brush stroke through these points of the photo (repeat for more; "
        "default: strokes over the polar bear in bsds500/test/100007.jpg)",
    )
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    print(screenshot(args.checkpoint, args.photo, args.output, args.stroke or BEAR, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
