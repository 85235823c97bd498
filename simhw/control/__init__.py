"""The ZeroMQ control plane: message schema, result store, bench daemon, client."""
