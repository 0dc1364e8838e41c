"""Benchmarks, run with one command each; they print ratios against a baseline measured in the same run."""
