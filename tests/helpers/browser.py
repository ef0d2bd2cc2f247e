"""A page in headless Chromium (Debian's chromium and chromium-driver, driven by selenium): its
screenshot and visible text, for the web page's test (the README's picture of the page in use
comes from docs/screenshot_app.py)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path


def screenshot(url: str, path: Path, width: int = 1200, height: int = 900, timeout: float = 60.0) -> tuple[Path, str]:
    """Load `url`, wait until the Gradio app has rendered its components, save a PNG; returns the
    path and the page's visible text."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        driver.get(url)
        WebDriverWait(driver, timeout).until(lambda d: "Run" in d.find_element(By.TAG_NAME, "body").text)
        time.sleep(1.0)  # let the canvas and fonts settle before the picture
        text = driver.find_element(By.TAG_NAME, "body").text
        driver.save_screenshot(str(path))
    finally:
        driver.quit()
    return Path(path), text


if __name__ == "__main__":
    print(screenshot(sys.argv[1], Path(sys.argv[2]))[0])
