"""Hone started by the README's run command (`make run`) on its embedded default, and a
real headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DEMO_MODEL_DIR = ROOT / "var" / "test" / "models" / "smollm2-135m-instruct"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]


@dataclass
class RunningHone:
    url: str
    username: str
    password: str
    process: subprocess.Popen
    output: Path

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(HONE_VAR=str(var_dir), HONE_PORT=str(port), HONE_RECONCILE_SECONDS="1", HF_HUB_OFFLINE="1")
    # The demo model is converted once and kept (where the slow tests keep it too), not per server.
    env.setdefault("HONE_DEMO_MODEL_DIR", str(DEMO_MODEL_DIR))
    return env


def wait_for_line(hone_output: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    while True:
        found = re.search(pattern, hone_output.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"`make run` never printed {pattern!r}:\n{hone_output.read_text()[-4000:]}")
        time.sleep(0.2)


def start_hone(tmp: Path) -> RunningHone:
    port = free_port()
    output = tmp / "make-run.log"
    with output.open("wb") as out:
        # Its own process group, like a terminal session: Ctrl-C goes to the whole group.
        proc = subprocess.Popen(
            ["make", "-s", "run"],
            cwd=ROOT,
            env=embedded_env(tmp / "var", port),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = wait_for_line(output, r"Hone is running at (http://\S+)", proc, timeout=300).group(1)
    login = wait_for_line(output, r"Log in as: (\S+) / (\S+)", proc, timeout=10)
    return RunningHone(url, login.group(1), login.group(2), proc, output)


def press_ctrl_c(hone: RunningHone, timeout: float = 60) -> int:
    os.killpg(hone.process.pid, signal.SIGINT)
    return hone.process.wait(timeout=timeout)


@pytest.fixture(scope="module")
def hone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHone]:
    running = start_hone(tmp_path_factory.mktemp("embedded"))
    yield running
    if running.process.poll() is None:
        press_ctrl_c(running)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise pytest.UsageError(
            f"browser tests need {CHROMIUM}: run scripts/install-browser (make test does)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, hone):
    context = browser.new_context(
        base_url=hone.url, accept_downloads=True, viewport={"width": 1280, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(60_000)  # a busy shared machine: the first preview loads transformers
    # Whatever the Content-Security-Policy blocks on any page a story visits fails the story.
    blocked: list[str] = []
    page.on("console", lambda msg: "Content Security Policy" in msg.text and blocked.append(msg.text))
    yield page
    context.close()
    assert not blocked, "the Content-Security-Policy blocked:\n" + "\n".join(blocked)


def log_in(page, hone: RunningHone) -> None:
    page.goto("login/")
    page.locator("#id_username").fill(hone.username)
    page.locator("#id_password").fill(hone.password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$|/jobs/"))
