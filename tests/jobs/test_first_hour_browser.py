"""What a new user met in the first hour, in a real browser (Debian's Chromium, driven by Playwright)
against Django's live server: pages that poll log no console error, the lineage of a job with several
outputs keeps its layout, the guided goal page, the cancel confirmation, the token's copy button, the
quantize form's folded settings.

Records are made before the browser starts: Django refuses database calls inside Playwright's loop.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jobs.models import Attempt, Dataset, Job, JobInput, ModelAsset
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def screenshot(page, name: str, show: str) -> None:
    """A viewport-sized PNG (1280×800) of the part of the page the test looked at, for the README."""
    page.locator(show).first.evaluate("element => element.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def browser(live_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise pytest.UsageError(
            f"browser tests need {CHROMIUM}: run scripts/install-browser (make test does)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    """A page that records every console error, uncaught exception and failed (4xx/5xx) request."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    yield page
    context.close()


def log_in(page, username: str) -> None:
    page.goto("/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill("pw-" + username)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$|/jobs/"))


@pytest.fixture
def staff_member(member):
    member.is_staff = True
    member.save(update_fields=["is_staff"])
    return member


def running_job(team, member, model: ModelAsset, dataset: Dataset, name: str = "busy") -> Job:
    job = Job.objects.create(
        team=team,
        created_by=member,
        name=name,
        base_model=model,
        dataset=dataset,
        status="running",
        objective="sft",
        step=3,
        total_steps=30,
    )
    Attempt.objects.create(job=job, number=1, executor="local", status="running")
    return job


# --- defect 4: the console's refresh, and every page that polls -------------------------


@pytest.fixture
def busy_job(staff_member, team, tiny_model, dataset) -> Job:
    return running_job(team, staff_member, tiny_model, dataset)


def test_no_page_that_polls_logs_a_console_error(staff_member, busy_job, page):
    """The console's queue refreshed through an htmx trigger filter, which htmx evaluates as
    JavaScript: the Content-Security-Policy forbids eval, so every 5 s: htmx:evalDisallowedError."""
    log_in(page, staff_member.username)
    for path, polls_every_s in (("/console/", 5), (f"/jobs/{busy_job.pk}/", 2), ("/jobs/", 2)):
        page.goto(path)
        polled = []
        page.on("request", lambda r, polled=polled: r.headers.get("hx-request") and polled.append(r.url))
        page.wait_for_timeout(polls_every_s * 1000 + 1500)
        assert polled, f"{path} did not refresh itself within {polls_every_s + 1.5} s"
    assert page.problems == []


@pytest.fixture
def waiting_job(team, tiny_model, dataset) -> Job:
    return Job.objects.create(
        team=team, name="waiting", base_model=tiny_model, dataset=dataset, status="queued"
    )


def test_the_console_does_not_refresh_while_an_operator_types(staff_member, waiting_job, page):
    log_in(page, staff_member.username)
    page.goto("/console/")
    field = page.locator("#console-queue input[type=number]").first
    field.fill("7")  # focused: the operator is typing a priority
    polled = []
    page.on("request", lambda r: r.headers.get("hx-request") and polled.append(r.url))
    page.wait_for_timeout(6500)
    assert polled == [] and field.input_value() == "7"
    assert page.problems == []


# --- defect 2: the lineage of a job with several outputs --------------------------------


OUTPUT_NAMES = ["squeeze · torchao", "squeeze · gguf_q8_0", "squeeze · gguf_q4_0"]


@pytest.fixture
def quantized(member, team, tiny_model, dataset) -> Job:
    job = Job.objects.create(
        team=team,
        created_by=member,
        name="squeeze",
        kind="quantize",
        method="gptq_int4",
        base_model=tiny_model,
        status="succeeded",
        params={"method": "gptq_int4", "outputs": []},
    )
    JobInput.objects.create(job=job, role="base", model=tiny_model)
    JobInput.objects.create(job=job, role="dataset", dataset=dataset, position=1)
    for name, fmt in zip(OUTPUT_NAMES, ("transformers", "gguf", "gguf"), strict=True):
        ModelAsset.objects.create(
            team=team,
            name=name,
            source="job",
            format=fmt,
            path=f"/x/{name}",
            task="causal-lm",
            produced_by=job,
        )
    return job


def test_the_lineage_of_a_job_with_three_outputs_keeps_every_row_in_place(member, quantized, page):
    job, names = quantized, OUTPUT_NAMES
    log_in(page, member.username)
    page.goto(f"/jobs/{job.pk}/")
    box = page.locator("#job-lineage dl.facts")
    labels = box.locator(":scope > dt")
    label_right = max(
        labels.nth(i).bounding_box()["x"] + labels.nth(i).bounding_box()["width"]
        for i in range(labels.count())
    )
    for name in ["tiny-llama", "demo", *names]:
        link = box.get_by_role("link", name=name, exact=True)
        assert link.is_visible(), name
        assert link.bounding_box()["x"] > label_right, f"{name} slid into the label column"
    assert "Outputs" in labels.all_inner_texts()
    screenshot(page, "lineage-outputs", "#job-lineage")
    assert page.problems == []


# --- defect 8: the guided goal page, cancel, copy, favicon --------------------------------


def test_preference_methods_show_only_for_the_preference_goal(member, page):
    log_in(page, member.username)
    page.goto("/jobs/guided/")
    methods = page.locator("fieldset.preference-methods")
    page.get_by_label("Chat assistant").check()
    assert not methods.is_visible()
    page.get_by_label("Preference alignment").check()
    assert methods.is_visible() and page.get_by_label(re.compile("^DPO")).is_checked()
    page.get_by_label("Classifier").check()
    assert not methods.is_visible()
    assert page.problems == []


@pytest.fixture
def long_job(member, team, tiny_model, dataset) -> Job:
    return Job.objects.create(
        team=team,
        created_by=member,
        name="long one",
        base_model=tiny_model,
        dataset=dataset,
        status="queued",
        objective="sft",
    )


def test_cancel_asks_first_and_dismissing_keeps_the_job(member, long_job, page):
    job = long_job
    log_in(page, member.username)
    page.goto(f"/jobs/{job.pk}/")
    asked = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, accept=False))
    page.get_by_role("button", name="Cancel job").click()
    page.wait_for_timeout(500)
    assert asked and "Cancel “long one”?" in asked[0]
    assert (
        page.url.endswith(f"/jobs/{job.pk}/")
        and "queued" in page.locator("#job-live .status-line").inner_text()
    )
    page.once("dialog", lambda d: answer(d, accept=True))
    page.get_by_role("button", name="Cancel job").click()
    page.locator("#job-live .status-line", has_text="cancelled").wait_for()
    assert len(asked) == 2
    assert page.problems == []


def test_a_new_token_has_a_copy_button(member, browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    log_in(page, member.username)
    page.goto("/settings/tokens/")
    page.locator("#id_name").fill("notebook")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith("hone_pat_")
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == token
    context.close()


# --- defect 3: the quantize form opens its folded settings at the field in error -----------


def test_gptq_with_gguf_q4_0_is_refused_in_the_forms_words_with_the_settings_open(member, tiny_model, page):
    log_in(page, member.username)
    page.goto("/jobs/new/quantize/")
    page.locator("#id_model").select_option(label=f"{tiny_model.name} (built-in)")
    page.get_by_label(re.compile("int4 with GPTQ")).check()
    page.get_by_label(re.compile("GGUF Q4_0")).check()
    assert not page.locator("details.advanced").evaluate("d => d.open")
    with page.expect_navigation():
        page.get_by_role("button", name="Start quantization").click()
    assert page.locator("details.advanced").evaluate("d => d.open")
    error = page.locator("details.advanced .field.has-error", has=page.get_by_label("Group size"))
    assert error.is_visible()
    text = error.inner_text()
    assert "set Group size to 32 (it is 128), or untick the GGUF Q4_0 output" in text
    assert "gptq_int4" not in page.locator("main").inner_text()
    screenshot(page, "quantize-refusal", "details.advanced .field.has-error")
    assert page.problems == []
