"""Headless Chromium from Debian's packages, driven by Selenium, and the few page reads the UI tests need.

Nothing here downloads a browser or a driver: the driver's path is given to ``Service``, which makes Selenium
skip Selenium Manager (``SE_OFFLINE`` keeps it offline should anything still call it). The browser's
background connections (updates, sync, field trials) are switched off: this machine's network refuses them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Generous: a page of the React UI on a loaded 2-core machine, its first load compiling 7 MB of script.
WAIT = 60.0
T = TypeVar("T")


def missing_packages() -> list[str]:
    """Debian's packages the browser tests need and that are not installed (``make test-ui`` installs them)."""
    return [package for package, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
            if not Path(path).is_file()]


def start_chromium(profile: Path, env: dict[str, str], log: Path) -> webdriver.Chrome:
    """A headless Chromium with a new, empty profile; the driver and the browser inherit ``env``."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,2200"):
        options.add_argument(argument)
    # The requests the page sends (the Test button's body) are read from the performance log.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=CHROMEDRIVER, env={**env, "SE_OFFLINE": "true"}, log_output=str(log))
    return webdriver.Chrome(service=service, options=options)


def wait_for(driver: webdriver.Chrome, check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll ``check`` until it returns something truthy (a re-rendered element is simply looked up again)."""
    def attempt(_: Any) -> T | None:
        try:
            return check()
        except StaleElementReferenceException:
            return None

    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(WebDriverException,)).until(attempt, f"waiting for {what}")


def visible(driver: webdriver.Chrome, xpath: str) -> WebElement | None:
    found = [element for element in driver.find_elements(By.XPATH, xpath) if element.is_displayed()]
    return found[0] if found else None


def click(driver: webdriver.Chrome, xpath: str, what: str) -> WebElement:
    """Wait until the element is shown and enabled, then click it; while something covers it (a tooltip of
    the button the pointer rests on), move the pointer onto it and try again."""
    def attempt() -> WebElement | None:
        element = _clickable(driver, xpath)
        if element is None:
            return None
        try:
            element.click()
        except ElementClickInterceptedException:
            ActionChains(driver).move_to_element(element).perform()
            return None
        return element

    return wait_for(driver, attempt, f"{what} to take a click")


def _clickable(driver: webdriver.Chrome, xpath: str) -> WebElement | None:
    element = visible(driver, xpath)
    return element if element is not None and element.is_enabled() else None


def everything_shown(driver: webdriver.Chrome) -> str:
    """The page as serialised HTML, plus what serialisation leaves out: every field's current value and the
    browser's local and session storage."""
    script = """
        const values = Array.from(document.querySelectorAll('input, textarea, select')).map(e => e.value);
        const storage = s => Object.keys(s).map(k => k + '=' + s.getItem(k));
        return JSON.stringify({html: document.documentElement.outerHTML, values: values,
                               local: storage(window.localStorage), session: storage(window.sessionStorage)});
    """
    return driver.execute_script(script)


def toasts(driver: webdriver.Chrome) -> dict[str, dict[str, str]]:
    """The notifications on screen by id: their type (success, error) and text."""
    script = """
        return Array.from(document.querySelectorAll("[data-scope='toast'][data-part='root']")).map(
            e => [e.id, e.getAttribute('data-type'), e.innerText]);
    """
    return {toast_id: {"type": kind, "text": text} for toast_id, kind, text in driver.execute_script(script)}


def sent_bodies(driver: webdriver.Chrome, path: str) -> list[dict[str, Any]]:
    """The JSON bodies of the requests the page sent to ``path`` since the last call (read from the log)."""
    bodies = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] != "Network.requestWillBeSent":
            continue
        request = message["params"]["request"]
        if request["url"].endswith(path) and request.get("postData"):
            bodies.append(json.loads(request["postData"]))
    return bodies


def quit_quietly(driver: webdriver.Chrome) -> None:
    # A browser that is gone already raises; the fixture then kills whatever is left by its marker.
    with contextlib.suppress(WebDriverException):
        driver.quit()


def keep_copy(source: Path, folder: str | None) -> None:
    """Copy a screenshot to ``folder`` when one is given (``TELA_UI_SCREENSHOTS=docs/img make test-ui``)."""
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, Path(folder) / source.name)


SCREENSHOTS_ENV = "TELA_UI_SCREENSHOTS"


def screenshots_folder() -> str | None:
    return os.environ.get(SCREENSHOTS_ENV) or None
