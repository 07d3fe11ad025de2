"""The TOML configuration (CONTRACT §2), loaded once into frozen, validated objects.

``settings`` holds what the objects are, ``reader`` how a file becomes them (every failure
a ConfigError sentence naming the file and the key); this namespace is their one face.
"""

from syncd.config.reader import _is_loopback, default_path, load, parse_duration
from syncd.config.settings import (
    DEFAULT_CONFIG,
    MASTERS_FROM,
    NIGHTLY,
    WEEKLY,
    AlertsConfig,
    Config,
    ObservabilityConfig,
    RateLimit,
    ScheduleConfig,
    SourceConfig,
    WarehouseConfig,
    WebhooksConfig,
)

__all__ = [
    "DEFAULT_CONFIG", "MASTERS_FROM", "NIGHTLY", "WEEKLY", "AlertsConfig", "Config",
    "ObservabilityConfig", "RateLimit", "ScheduleConfig", "SourceConfig", "WarehouseConfig",
    "WebhooksConfig", "_is_loopback", "default_path", "load", "parse_duration",
]
