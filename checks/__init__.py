"""Checks: pure functions of the Inventory that yield Findings."""
