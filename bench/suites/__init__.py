"""Packaged suite files (TOML)."""
