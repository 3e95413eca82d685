"""Shared test configuration: the pytester plugin checks our own pytest plugin."""

pytest_plugins = ["pytester"]
