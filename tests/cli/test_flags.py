"""profiler.cli.flags: library errors in the CLI's words: in_flags turns each Python argument
the CLI has a flag for into that flag, and the spelled-out values into the flag's syntax; the
command's errors speak of flags."""
from __future__ import annotations

import re

import pytest

from profiler.cli.flags import FLAGS, SPELLED, in_flags


def test_the_cli_rewords_arguments_into_its_flags():
    assert in_flags("depth=-1: expected 0 or more") == "--depth -1: expected 0 or more"
    assert in_flags("give tokens= (or decode=) instead of input_size=") == "give --tokens (or --decode) instead of --input"
    assert in_flags("batch=0: expected a positive integer, such as batch=8") == \
        "--batch 0: expected a positive integer, such as --batch 8"
    assert in_flags("classifier: give the window (window=(C, H, W))") == "classifier: give the window (--window CxHxW)"
    assert in_flags("num_hidden_layers=2; inputs= is given") == "num_hidden_layers=2; inputs= is given"
    assert in_flags("resnet18: checkpointing= switches it on; add training=True") == \
        "resnet18: --checkpointing switches it on; add --training"


@pytest.mark.parametrize("argv,flag", [(["--depth", "-1"], "--depth"), (["--top", "0"], "--top"),
                                       (["--input", "3x22a"], "--input '3x22a'"),
                                       (["--device", "tpu9"], "--device 'tpu9'")])
def test_cli_errors_speak_of_flags(cli, argv, flag):
    code, _, err = cli("profile", "alexnet_homework", *argv)
    assert code == 2 and err.startswith("profiler: error:") and flag in err, err


def test_every_flag_in_the_table_is_a_real_option_of_a_subcommand():
    from profiler.cli import build_parser
    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    options = {o for sub in commands.choices.values() for a in sub._actions for o in a.option_strings}
    assert set(FLAGS.values()) <= options
    assert {re.match(r"--[\w-]+", flag)[0] for flag in SPELLED.values()} <= options


@pytest.mark.parametrize("argument,flag", sorted(FLAGS.items()))
def test_each_argument_becomes_its_flag_with_or_without_a_value(argument, flag):
    assert in_flags(f"{argument}=3 is wrong") == f"{flag} 3 is wrong"
    assert in_flags(f"give {argument}= here") == f"give {flag} here"
    assert in_flags(f"give {argument}=, or not") == f"give {flag}, or not"


def test_only_whole_argument_names_are_reworded():
    assert in_flags("microbatch=2 and subdepth=3") == "microbatch=2 and subdepth=3"
    assert in_flags("batch_size=2") == "batch_size=2"
    assert in_flags("no argument here") == "no argument here"
