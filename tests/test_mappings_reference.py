"""The mapping reference docs/mappings.md is generated from mappings/*.yml and is up to date."""

from __future__ import annotations

from pathlib import Path

from mappings.reference import mapping_reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "mappings.md"


def test_reference_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == mapping_reference(), \
        "regenerate with: python -m mappings.reference docs/mappings.md"


def test_reference_lists_every_mapping_and_synonym():
    text = mapping_reference()
    for name in ("china-core", "shanghai", "ckan", "dcat-us", "iso19139"):
        assert f"## {name}\n" in text
    assert "| title | 资源名称, 信息资源名称" in text
