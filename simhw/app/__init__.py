"""The application layer: the CLI and its subcommands, ``open_bench``, the demo, the soak, the HIL check and
the embedded daemon. The only layer that starts the simulated bench or wires everything together."""
