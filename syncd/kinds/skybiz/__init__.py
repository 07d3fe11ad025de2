"""The SKYBIZ ERP API: its modules, client, answers, windowed sync and check."""
