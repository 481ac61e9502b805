"""Settings for the hall: read once from the environment and `.env`, validated."""

from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
