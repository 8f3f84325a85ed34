"""Shared pieces: errors and status codes (``errors``), TF-style log lines (``log``)
and the one dtype table (``dtypes``)."""
