"""The Content-Security-Policy in a real browser: the pages the browser stories in tests/e2e do
not visit (the API reference with Swagger UI, the admin) work under it, with no violation
reported. (The e2e stories check every page they visit the same way: tests/e2e/conftest.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.integration


@pytest.fixture
def browser_page(live_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise pytest.UsageError(
            f"browser tests need {CHROMIUM}: run scripts/install-browser (make test does)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=live_server.url)
        page.set_default_timeout(20_000)
        page.violations = []
        page.on("console", lambda m: "Content Security Policy" in m.text and page.violations.append(m.text))
        page.on("pageerror", lambda error: page.violations.append(f"uncaught: {error}"))
        yield page
        browser.close()


def test_swagger_ui_renders_the_api_reference_under_the_policy(transactional_db, browser_page) -> None:
    page = browser_page
    response = page.goto("/api/v1/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Hone API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-summary-path", has_text="/api/v1/jobs").first.click()  # open one operation
    page.locator(".opblock-body").first.wait_for()
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.docs-head')).display") == "flex"
    )  # docs.css
    assert page.violations == []


@pytest.fixture
def superuser(transactional_db, django_user_model):
    # Made before the browser starts: Django refuses database calls inside Playwright's loop.
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123")


def test_the_admin_works_under_the_policy(superuser, browser_page) -> None:
    page = browser_page
    page.goto("/admin/")
    page.locator("#id_username").fill("root")
    page.locator("#id_password").fill("pw-root-123")
    page.locator("input[type=submit]").click()
    page.get_by_role("link", name="Jobs").first.click()
    page.locator("#changelist, #content-main").first.wait_for()
    assert page.violations == []
