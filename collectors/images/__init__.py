"""Image sources: the Docker engine, OCI registries, and image archives on disk."""
