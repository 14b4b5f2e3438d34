"""Test support shared by several test suites (standard library only, importable from any venv)."""
