"""The `profiler` command.  Heavy modules (torch, pandas) are imported lazily, inside
the subcommands, so `--help` answers at once."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from importlib import import_module

from profiler.cli.examples import EXAMPLES

COMMANDS = ("profile", "list", "check", "compare")  # each a module in profiler/cli with register(subparsers)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit code 2, no usage dump
        self.exit(2, f"profiler: error: {message}\n")


def version() -> str:
    """The installed package's version (its metadata), read without importing torch."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed("profiler")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


class _Version(argparse.Action):
    """--version: the version from the package metadata, read only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"profiler {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="profiler", description="Exact, static FLOP and parameter counts for "
                     "PyTorch models, layer by layer.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)   # none: the help

    for command in COMMANDS:
        import_module(f"profiler.cli.{command}").register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


class _OutputError(Exception):
    """Standard output could not be written (a full disk, an I/O error)."""

    def __init__(self, error: OSError):
        super().__init__(error.strerror or str(error))


class _GuardedStdout:
    """sys.stdout while a command runs: an OSError writing or flushing it becomes an
    _OutputError, so that main can tell it from any other OSError.  A closed pipe
    stays a BrokenPipeError."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc) from exc

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc) from exc

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so that what is still buffered in
    sys.stdout goes nowhere at exit, instead of failing again with a traceback."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):   # not a real file (a test's capture)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _cwd_first() -> str | None:
    """Put the current folder first on sys.path, as ``python -m profiler`` has it,
    so that ``package.module:attr`` finds a module in the current folder from the
    installed ``profiler`` script too (whose sys.path starts with the script's own
    folder).  Returns the entry added (None when the folder was there already)."""
    cwd = os.getcwd()
    if any(os.path.abspath(entry or os.curdir) == cwd for entry in sys.path):
        return None
    sys.path.insert(0, cwd)
    return cwd


def main(argv: list[str] | None = None) -> int:
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    added = _cwd_first()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("profiler: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`profiler profile vgg16 | head`): stop quietly, and keep
        # Python from complaining again when it flushes stdout at exit
        _silence_stdout()
        return 141
    except _OutputError as exc:
        _silence_stdout()
        print(f"profiler: error: cannot write to standard output: {exc}", file=sys.stderr)
        return 2
    finally:
        try:        # after an error: what was printed before it, if stdout still takes it
            sys.stdout.flush()
        except Exception:
            _silence_stdout()
        sys.stdout = stdout
        if added is not None and added in sys.path:   # main() called from Python: its sys.path as it was
            sys.path.remove(added)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit:          # --help or a usage error: argparse has printed it
        sys.stdout.flush()
        raise
    if args.command is None:    # a bare `profiler`: what it can do
        parser.print_help()
        return 0
    from profiler.cli.flags import in_flags
    from profiler.errors import ProfilerError, first_line
    try:
        with warnings.catch_warnings():   # what a command filters or redirects ends with it
            warnings.showwarning = _show_warning
            code = args.run(args)
        sys.stdout.flush()      # here, not at exit, where a full disk would end in a traceback
        return code
    except (KeyboardInterrupt, BrokenPipeError, _OutputError):
        raise
    except Exception as exc:
        if os.environ.get("PROFILER_TRACEBACK", "") not in ("", "0"):
            traceback.print_exc()
            return 2
        # our errors name the library's arguments: the command's user knows its flags
        message = in_flags(str(exc)) if isinstance(exc, ProfilerError) else first_line(exc)
        print(f"profiler: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
