"""Collectors: async, read-only I/O that turns a cluster into an Inventory."""
