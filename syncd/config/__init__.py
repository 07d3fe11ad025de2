"""The TOML configuration (CONTRACT §2), loaded once into frozen, validated objects.

``settings`` holds what the objects are, ``reader`` how a file becomes them (every failure
a ConfigError sentence naming the file and the key); this namespace is their one face.
"""

from syncd.config.reader import _is_loopback, default_path, load, parse_duration
from syncd.config.settings import (
    DEFAULT_CONFIG,
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
from syncd.kinds.options import MASTERS_FROM, CloudonexOptions, SkybizOptions

__all__ = [
    "DEFAULT_CONFIG",
    "MASTERS_FROM",
    "NIGHTLY",
    "WEEKLY",
    "AlertsConfig",
    "CloudonexOptions",
    "Config",
    "ObservabilityConfig",
    "RateLimit",
    "ScheduleConfig",
    "SkybizOptions",
    "SourceConfig",
    "WarehouseConfig",
    "WebhooksConfig",
    "_is_loopback",
    "default_path",
    "load",
    "parse_duration",
]
