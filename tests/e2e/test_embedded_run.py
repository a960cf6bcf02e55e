"""The user stories of the browser UI, in a real browser, against `make run` on the embedded
default (SQLite, the no-server broker, the local executor): one server for the whole module.

The golden path goes through the guided set-up (upload → checks → model → preset → review),
watches the run finish, asks the playground and downloads the adapter; the advanced form is
used by the cancel story; two finished runs are then compared. Screenshots of the key pages
are saved into docs/screenshots/ (the README shows one).
"""

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

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
RUNS: dict[str, str] = {}  # story → job page URL, for the comparison at the end


def screenshot(page, name: str, *, show: str | None = None) -> None:
    """A viewport-sized PNG (1280×800), small enough to commit; ``show`` scrolls to an element."""
    if show:
        page.locator(show).first.evaluate("element => element.scrollIntoView({block: 'center'})")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def upload(page, path: Path) -> None:
    page.goto("datasets/new/")
    page.locator("#id_file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and check").click()


def start_job(page, dataset_url: str, *, epochs: str, learning_rate: str = "0.003") -> str:
    """The advanced path: every setting on one form."""
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


def wait_for_progress(page, timeout_ms: int = 120_000) -> None:
    """Until training has begun. Polled from here: ``wait_for_function`` evaluates a string in
    the page, which Hone's Content-Security-Policy (no eval) refuses."""
    for _ in range(timeout_ms // 250):
        if progress(page) > 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"no training progress within {timeout_ms // 1000} s")


def test_the_login_page_is_served(hone, page):
    response = page.goto("login/")
    assert response.status == 200
    assert page.get_by_role("button", name="Log in").is_visible()


def test_a_bad_upload_shows_each_row_error_and_stores_nothing(hone, page, tmp_path):
    log_in(page, hone)
    bad = tmp_path / "broken.jsonl"
    bad.write_text(
        '{"instruction": "a", "output": "b"}\n{"instruction": "c"}\n{"instruction": "d", "output": \n'
    )
    page.goto("jobs/guided/")
    page.get_by_role("button", name="Continue: choose the data").click()
    page.locator("#id_file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click()
    problems = page.locator(".row-errors")
    problems.wait_for()
    rows = [row.inner_text().split("\t") for row in problems.locator("tbody tr").all()]
    assert ["2", "output", "missing (also accepted as 'response', 'answer', 'completion')"] in rows
    assert rows[1][0] == "3" and "line 2" in page.locator("#id_file_error").inner_text()
    screenshot(page, "upload-row-errors", show=".row-errors")
    page.goto("datasets/")
    assert "broken" not in page.locator("main").inner_text()


def test_guided_job_watch_it_finish_try_it_and_download(hone, page, tmp_path):
    log_in(page, hone)
    data = tmp_path / "toy-instructions.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in demo_instruction_rows(160, seed=3)))

    page.goto("jobs/guided/")
    page.get_by_label("Chat assistant").check()
    page.get_by_role("button", name="Continue: choose the data").click()
    page.locator("#id_file").set_input_files(str(data))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(re.compile(r"/jobs/guided/data/\?.*dataset=\d+"))
    check = page.locator("#check")
    assert "all 160 rows passed the checks" in check.inner_text()
    assert "assistant" in check.locator("pre.rendered").first.inner_text()  # the chat template, applied
    assert "nothing will be cut" in check.inner_text()
    check.locator("svg.histogram").wait_for()
    screenshot(page, "guided-data-check", show="#check h3:last-of-type")

    page.get_by_role("button", name="Continue: choose a base model").click()
    page.get_by_label(re.compile("tiny-llama")).check()
    assert "fits on local" in page.locator(".model-cards").inner_text()
    screenshot(page, "guided-base-model")
    page.get_by_role("button", name="Continue: choose how to train").click()

    page.locator("#preset-quick").check()
    page.locator("details.advanced summary").click()
    page.locator("#id_epochs").fill("12")  # the tiny model needs many passes to learn anything
    page.locator("#id_learning_rate").fill("0.003")
    screenshot(page, "guided-method")
    page.get_by_role("button", name="Continue: review").click()
    plan = page.locator(".plan").inner_text()
    assert "It reads the training rows 12 times" in plan and "learning rate 0.003" in plan
    assert "fits on local" in page.locator("main").inner_text()
    screenshot(page, "guided-review")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    RUNS["guided"] = page.url

    page.evaluate("window.__notReloaded = true")  # gone if the page were reloaded
    seen = set()
    wait_for_progress(page)
    while "succeeded" not in page.locator("#job-live .status-line").inner_text():
        seen.add(progress(page))
        assert "failed" not in page.locator("#job-live .status-line").inner_text(), hone.log()[-3000:]
        page.wait_for_timeout(300)
    assert page.evaluate("window.__notReloaded") is True
    assert any(0 < p < 100 for p in seen), f"never saw partial progress: {sorted(seen)}"
    chart = page.locator("#job-live svg").first.inner_html()
    assert "eval/loss" in chart and "train/loss" in chart
    page.get_by_role(
        "link", name="Try it in the playground"
    ).wait_for()  # the outputs arrive without a reload
    screenshot(page, "job-succeeded")

    page.get_by_role("link", name="Try it in the playground").click()
    page.locator("#id_prompt").fill("What is the capital of Valdoria?")
    page.get_by_role("button", name="Generate").click()
    page.locator("#playground-status", has_text="Done.").wait_for(timeout=90_000)
    tuned, base = (
        page.locator("#answer-model-meta").inner_text(),
        page.locator("#answer-base-meta").inner_text(),
    )
    assert re.match(r"[\d.]+ s", tuned) and re.match(r"[\d.]+ s", base), (tuned, base)
    assert (
        page.locator("#answer-model").inner_text().strip()
        or page.locator("#answer-base").inner_text().strip()
    )
    screenshot(page, "playground", show="#answers")

    page.goto(RUNS["guided"])
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
    RUNS["cancelled"] = start_job(page, page.url, epochs="100")
    wait_for_progress(page)
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_url(re.compile(r"/jobs/\d+/$"))
    page.locator("#job-live .status-line", has_text="cancelled").wait_for(timeout=30_000)
    page.locator("#job-live .timeline-item", has_text="cancelled").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Retry").wait_for()  # offered once the process has stopped
    assert questions and questions[0].startswith("Cancel “")  # it asked first


def test_compare_two_runs(hone, page):
    assert set(RUNS) == {"guided", "cancelled"}, "the two runs above must have run"
    log_in(page, hone)
    page.goto("jobs/")
    for url in RUNS.values():
        job_id = url.rstrip("/").rsplit("/", 1)[-1]
        page.locator(f"#pick-{job_id}").check()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url(re.compile(r"/jobs/compare/\?ids="))
    assert page.locator("h1").inner_text() == "Compare 2 jobs"
    loss = page.locator("#main svg").first.get_attribute("aria-label")
    assert loss.startswith("Loss (train).") and loss.count(" at step ") == 2
    differing = page.locator("tr.differs").all_inner_texts()
    assert any("training.epochs" in row and "12" in row and "100" in row for row in differing)
    assert page.locator("td.winner").count() >= 1
    screenshot(page, "compare")


def test_ctrl_c_stops_everything(hone):
    port = urlparse(hone.url).port
    press_ctrl_c(hone)
    assert "Hone stopped." in hone.log()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the web server is still listening"
