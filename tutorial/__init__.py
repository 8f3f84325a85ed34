"""Helpers shared by the numbered tutorial scripts (settings, small utilities)."""
