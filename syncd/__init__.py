"""syncd: incremental SKYBIZ -> PostgreSQL sync daemon."""

__version__ = "0.1.0"
