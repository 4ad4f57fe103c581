"""Test support: pytest plugins and reference implementations shared by the test suite."""
