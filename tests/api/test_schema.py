"""The OpenAPI schema is generated from the code, valid, warning-free, and served with its docs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def test_the_schema_validates_without_warnings(tmp_path, db):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "default" in operation["responses"], f"{method} {path} documents no error format"
            problem = operation["responses"]["401"]["content"]
            assert list(problem) == ["application/problem+json"], f"{method} {path}"


def test_the_schema_is_served(client, db):
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert "/api/v1/jobs/{job_id}/metrics" in response.json()["paths"]


def test_the_docs_page_uses_vendored_assets_only(client, db):
    page = client.get("/api/v1/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in sources
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"):
        assert (ROOT / "static" / "vendor" / "swagger-ui-5.35.0" / asset).is_file()
    assert 'data-schema-url="/api/v1/schema/"' in page
