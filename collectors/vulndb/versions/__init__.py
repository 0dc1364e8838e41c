"""Version ordering per OSV ecosystem."""
