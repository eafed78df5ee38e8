"""Antibody inside other frameworks' training loops. Each module imports its framework; nothing in the core
imports them (tests/test_framework_free.py)."""
