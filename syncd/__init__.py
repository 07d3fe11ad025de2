"""syncd: incremental business-API -> PostgreSQL sync daemon (SKYBIZ, CloudOnex)."""

__version__ = "0.2.0"
