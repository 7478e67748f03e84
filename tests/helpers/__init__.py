"""Fixtures, builders and helper programs shared by the tests (not collected as tests)."""
