"""The whole user story of the end-to-end issue, in a real browser, against `make run`
on the embedded default (SQLite, the no-server broker, the local executor)."""

from __future__ import annotations

import io
import json
import re
import socket
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import log_in, press_ctrl_c
from trainers.tiny import demo_instruction_rows

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results"


def upload(page, path: Path) -> None:
    page.goto("datasets/new/")
    page.locator("#id_file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()


def start_job(page, dataset_url: str, *, epochs: str, learning_rate: str = "0.003") -> str:
    dataset_id = dataset_url.rstrip("/").rsplit("/", 1)[-1]
    page.goto(f"jobs/new/?dataset={dataset_id}")
    option = page.locator("#id_base_model option", has_text="tiny-llama").first
    page.locator("#id_base_model").select_option(option.get_attribute("value"))
    page.locator("#id_epochs").fill(epochs)
    page.locator("#id_learning_rate").fill(learning_rate)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    return page.url


def progress(page) -> float:
    return float(page.locator("#job-live progress").get_attribute("value") or 0)


def test_the_login_page_is_served(hone, page):
    response = page.goto("login/")
    assert response.status == 200
    assert page.get_by_role("button", name="Log in").is_visible()


def test_a_bad_upload_names_the_line_and_stores_nothing(hone, page, tmp_path):
    log_in(page, hone)
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\n{"instruction": "c", "output": \n')
    upload(page, bad)
    assert "line 2" in page.locator("main").inner_text()
    page.goto("datasets/")
    assert "broken" not in page.locator("main").inner_text()


def test_upload_train_watch_live_and_download(hone, page, tmp_path):
    log_in(page, hone)
    data = tmp_path / "toy-instructions.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_instruction_rows(160, seed=3)))
    upload(page, data)
    page.wait_for_url(re.compile(r"/datasets/\d+/$"))
    assert "instruction" in page.locator("main").inner_text()

    start_job(page, page.url, epochs="12")
    page.evaluate("window.__notReloaded = true")  # gone if the page were reloaded
    seen = set()
    page.wait_for_function("document.querySelector('#job-live progress').value > 0", timeout=120_000)
    while "succeeded" not in page.locator("#job-live .status-line").inner_text():
        seen.add(progress(page))
        assert "failed" not in page.locator("#job-live .status-line").inner_text(), hone.log()[-3000:]
        page.wait_for_timeout(300)
    assert page.evaluate("window.__notReloaded") is True
    assert any(0 < p < 100 for p in seen), f"never saw partial progress: {sorted(seen)}"
    assert progress(page) == 100
    chart = page.locator("#job-live svg").first.inner_html()
    assert "eval/loss" in chart and "train/loss" in chart

    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "job-succeeded.png"), full_page=False)
    with page.expect_download() as download:
        page.locator("#job-artifacts").get_by_role("link", name=re.compile("Download")).first.click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = {Path(n).name for n in archive.namelist()}
    assert {"adapter_model.safetensors", "adapter_config.json", "README.md"} <= names


def test_cancel_stops_a_running_job(hone, page):
    log_in(page, hone)
    page.goto("datasets/")
    page.get_by_role("link", name="demo instructions").first.click()
    page.wait_for_url(re.compile(r"/datasets/\d+/$"))
    start_job(page, page.url, epochs="100")
    page.wait_for_function("document.querySelector('#job-live progress').value > 0", timeout=120_000)
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    page.locator("#job-live .status-line", has_text="cancelled").wait_for(timeout=30_000)
    page.locator("#job-live td", has_text="cancelled").first.wait_for(timeout=60_000)  # the attempt ended


def test_ctrl_c_stops_everything(hone):
    port = urlparse(hone.url).port
    press_ctrl_c(hone)
    assert "Hone stopped." in hone.log()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the web server is still listening"
