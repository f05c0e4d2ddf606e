"""Settings: defaults, overlays, unknown keys and secrets."""

from __future__ import annotations

import pytest

from config import SettingsError, load_settings


def test_defaults_and_home(tmp_path):
    settings = load_settings({}, home=tmp_path)
    assert settings.server.port == 8000
    assert settings.base_uri == "http://127.0.0.1:8000"
    assert settings.home == tmp_path
    assert settings.path("store") == tmp_path / "store"


def test_wodp_home_default_is_var(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_settings({}).home == tmp_path / "var"
    assert load_settings({"WODP_HOME": str(tmp_path / "x")}).home == tmp_path / "x"


def test_environment_overrides_file_overrides_default(tmp_path):
    overlay = tmp_path / "site.yml"
    overlay.write_text("server:\n  port: 9001\nsparql:\n  timeout_s: 3\n", encoding="utf-8")
    env = {"WODP_CONFIG": str(overlay), "WODP_SERVER__PORT": "9002", "WODP_SITE__BASE_URI": "https://data.example.org/"}
    settings = load_settings(env, home=tmp_path)
    assert settings.server.port == 9002
    assert settings.sparql.timeout_s == 3.0
    assert settings.base_uri == "https://data.example.org"


@pytest.mark.parametrize("text, needle", [
    ("server:\n  prot: 1\n", "unknown key server.prot"),
    ("sever:\n  port: 1\n", "unknown section 'sever'"),
    ("server: [1, 2]\n", "section 'server' must be a mapping"),
    ("server:\n  port: [oops\n", "not valid YAML"),
    ("server:\n  port: 99999\n", "server.port"),
    ("tianditu:\n  key: abc123\n", "tianditu.key is a secret"),
])
def test_bad_overlay_is_refused_with_its_reason(tmp_path, text, needle):
    overlay = tmp_path / "bad.yml"
    overlay.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings({"WODP_CONFIG": str(overlay)}, home=tmp_path)
    assert needle in str(info.value)
    assert "abc123" not in str(info.value)


def test_unknown_environment_variable_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="unknown key server.prot"):
        load_settings({"WODP_SERVER__PROT": "1"}, home=tmp_path)
    with pytest.raises(SettingsError, match="WODP_PORT is not a setting"):
        load_settings({"WODP_PORT": "1"}, home=tmp_path)


def test_secret_from_environment_only(tmp_path):
    settings = load_settings({"WODP_TIANDITU__KEY": "k-123"}, home=tmp_path)
    assert settings.tianditu.key == "k-123"


def test_missing_overlay_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="nope.yml"):
        load_settings({"WODP_CONFIG": str(tmp_path / "nope.yml")}, home=tmp_path)


def test_every_setting_is_documented_in_default_yml():
    from importlib import resources

    import yaml

    from config.settings import SECTIONS

    data = yaml.safe_load(resources.files("config").joinpath("default.yml").read_text("utf-8"))
    for section, model in SECTIONS.items():
        assert set(data[section]) == set(model.model_fields), section


def test_cli_address_moves_the_default_base_uri_only(monkeypatch, tmp_path):
    import argparse

    from server.cli import _settings

    for name in [n for n in __import__("os").environ if n.startswith("WODP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WODP_HOME", str(tmp_path))
    assert _settings(argparse.Namespace(host=None, port=9123)).base_uri == "http://127.0.0.1:9123"
    assert _settings(argparse.Namespace(host="0.0.0.0", port=9124)).base_uri == "http://127.0.0.1:9124"
    monkeypatch.setenv("WODP_SITE__BASE_URI", "https://data.example.org")
    assert _settings(argparse.Namespace(host=None, port=9125)).base_uri == "https://data.example.org"
