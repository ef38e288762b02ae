"""Running the command line in-process, as the tests of every command do."""

from __future__ import annotations

from analogist.cli import main


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``analogist ARGV`` in this process: (exit code, stdout, stderr); argparse's exits count too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
