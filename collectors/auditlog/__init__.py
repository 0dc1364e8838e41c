"""Read the API server's audit log (audit.k8s.io/v1 Events, one JSON object a line) for exec evidence."""
