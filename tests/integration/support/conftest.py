"""Fixtures of the support integration tests (defined in support_world.py)."""

from support_world import school_group

__all__ = ["school_group"]
