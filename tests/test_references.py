"""Generated references stay in step with their sources: settings and saved queries."""

from __future__ import annotations

from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("module, name", [("config.reference", "settings.md"), ("sparql.reference", "queries.md")])
def test_reference_is_up_to_date(module, name):
    render = __import__(module, fromlist=["render"]).render
    assert (DOCS / name).read_text(encoding="utf-8") == render(), f"regenerate with python -m {module} docs/{name}"


def test_settings_reference_names_every_key_and_hides_secrets():
    from config.reference import render
    from config.settings import SECTIONS

    text = render()
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            assert f"`WODP_{section.upper()}__{key.upper()}`" in text
    assert "| `key` | (secret) |" in text and "| `cloud_token` | (secret) |" in text


def test_saved_queries_reference_lists_parameters():
    from sparql.reference import render

    text = render()
    assert "## dataset-description" in text and "Parameters: `$dataset`" in text
