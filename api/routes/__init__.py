"""Route modules of the REST API and the web UI."""
