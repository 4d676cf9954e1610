"""Suites of other projects (CPython's, joblib's) run against mproc through the alias."""
