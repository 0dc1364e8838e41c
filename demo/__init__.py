"""The built-in demo: a generated cluster served by a local Kubernetes API server double."""
