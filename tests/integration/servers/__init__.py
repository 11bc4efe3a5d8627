"""Real servers started on 127.0.0.1 for the integration tests, one module per server."""
