"""The Textual dashboard. It reads a Report, never the cluster."""
