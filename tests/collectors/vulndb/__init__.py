"""Tests of the vulnerability database and matching."""
