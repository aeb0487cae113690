"""CLI subcommands: each module has ``register(subparsers)``; the parser's ``run``
default is called with the parsed args and returns the exit code.  Modules import
torch only inside ``run`` so that `--help` stays fast."""
