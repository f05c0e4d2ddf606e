"""Settings: config/default.yml overlaid by WODP_CONFIG and WODP_* variables."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
