"""Argument types shared by the sub-commands (no torch: the parser is built at every start
of the command line)."""

from __future__ import annotations

import argparse
from pathlib import Path


def folder(text: str) -> str:
    """``--out``: a folder path — not empty, not an existing file.

    Raises
    ------
    argparse.ArgumentTypeError
        With the reason; the parser turns it into one error line naming the option.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a folder, got an empty string (e.g. --out "
                                         "runs/latest)")
    if Path(text).expanduser().exists() and not Path(text).expanduser().is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; give the folder "
                                         "that holds (or will hold) runs/")
    return text
