"""CLI subcommands: each module has ``register(subparsers)``; the parser's ``run``
default is called with the parsed args and returns the exit code.  Modules import
torch only inside ``run`` so that `--help` stays fast."""

# the examples under `profiler --help` and `profiler profile --help`
EXAMPLES = """examples:
  profiler profile alexnet                          per-layer table, by-kind summary, totals
  profiler profile alexnet_paper --input 3x227x227  the hand count of the 2012 paper
  profiler profile resnet50 --input 3x224x224 --batch 8 --csv out/resnet50.csv --md out/resnet50.md
  profiler profile path/to/net.py:Net               your own model (a class or a no-argument function)
  profiler profile hf:llama --tokens 2048           a language model from its config, on meta
  profiler profile alexnet --measure                measured time per layer beside its roofline bound
  profiler list                                     the models it can profile by name

errors are one line on stderr, exit code 2; PROFILER_TRACEBACK=1 prints the full traceback instead
"""
