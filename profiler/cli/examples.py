"""CLI subcommands: each module has ``register(subparsers)``; the parser's ``run``
default is called with the parsed args and returns the exit code.  Modules import
torch only inside ``run`` so that `--help` stays fast."""

# the examples under `profiler --help` and `profiler profile --help`
EXAMPLES = """examples:
  profiler profile alexnet                          per-layer table, by-kind summary, totals
  profiler profile alexnet_homework                 the hand count: torchvision's layout, conv1 unpadded
  profiler profile alexnet2012                      the 2012 paper's AlexNet: 96 kernels, two GPUs, LRN
  profiler profile resnet50 --input 3x224x224 --batch 8 --csv out/resnet50.csv --md out/resnet50.md
  profiler profile path/to/net.py:Net               your own model (a class or a no-argument function)
  profiler profile hf:llama --tokens 2048           a language model from its config, on meta
  profiler profile alexnet --measure                measured time per layer beside its roofline bound
  profiler list                                     the models it can profile by name

errors are one line on stderr, exit code 2; PROFILER_TRACEBACK=1 prints the full traceback instead
"""
