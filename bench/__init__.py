"""Benchmarks: the mission's workloads against three peers on SQLite and PostgreSQL.

``python -m bench`` (or ``make bench``) runs them; see bench/README.md.
"""
