"""The live bench dashboard: an HTTP/WebSocket gateway over the daemon's ZeroMQ API (docs/guide.md)."""
