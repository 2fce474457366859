"""The ``ml2bench data`` command: list, download and verify the image data sets.

::

    ml2bench data list     [--data-dir D]
    ml2bench data download NAME [--data-dir D] [--mirror URL ...] [--force]
                                [--timeout S] [--no-progress]
    ml2bench data verify   NAME [--data-dir D]

:func:`add_data_parser` registers the sub-command on the ``ml2bench`` parser and
:func:`run_data_command` executes the parsed arguments. User errors are raised as
:class:`~ml2bench.errors.UserError` for the top-level command to print.
"""

from __future__ import annotations

import argparse
import sys
from typing import Optional, TextIO

from ml2bench.data.datadir import DEFAULT_TIMEOUT, ENV_DATA_DIR, ENV_MIRRORS, describe_data_dir

__all__ = ["add_data_parser", "run_data_command"]

#: How the parser names a data set; the names are checked when a command runs (the
#: registry, :data:`ml2bench.data.datasets.DATASETS`, is not imported to build it).
_NAME_HELP = "data set (mnist, fashion_mnist or cifar10; `ml2bench data list` shows them)"


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", metavar="DIR", default=None,
        help=f"data directory (default: ${ENV_DATA_DIR}, else ~/.cache/ml2bench)")


def add_data_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``data`` and its sub-commands on an argparse sub-parsers object.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The object returned by ``parser.add_subparsers()`` of the ``ml2bench`` parser.

    Returns
    -------
    argparse.ArgumentParser
        The ``data`` parser. Parsed arguments carry ``data_command`` (``list``,
        ``download`` or ``verify``) and are run by :func:`run_data_command`.
    """
    parser = subparsers.add_parser(
        "data", help="list, download and verify the image data sets",
        description="Manage MNIST, Fashion-MNIST and CIFAR-10 (binary) in the data directory.")
    commands = parser.add_subparsers(dest="data_command", metavar="COMMAND", required=True)
    listing = commands.add_parser(
        "list", help="data sets, where they are expected, present or missing")
    _add_data_dir(listing)
    fetch = commands.add_parser(
        "download", help="fetch the official files and check their MD5",
        description="Fetch the official files of a data set, check their MD5 and write them "
                    "atomically; files already present and correct are kept.")
    fetch.add_argument("name", metavar="NAME", help=_NAME_HELP)
    _add_data_dir(fetch)
    fetch.add_argument(
        "--mirror", action="append", metavar="URL", default=None,
        help=f"base URL to fetch from instead of the official mirrors (repeatable; "
             f"also ${ENV_MIRRORS})")
    fetch.add_argument("--force", action="store_true", help="download again even if present")
    fetch.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                       help=f"network timeout in seconds (default {DEFAULT_TIMEOUT:g})")
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = commands.add_parser("verify", help="check MD5 or structure of the files present")
    check.add_argument("name", metavar="NAME", help=_NAME_HELP)
    _add_data_dir(check)
    return parser


def _run_list(args: argparse.Namespace, out: TextIO) -> int:
    from ml2bench.data.datasets import DATASETS, dataset_status

    root, source = describe_data_dir(args.data_dir)
    print(f"data directory: {root} ({source})", file=out)
    rows = []
    for name in sorted(DATASETS):
        status = dataset_status(name, root)
        total = len(status.found)
        have = total - len(status.missing)
        state = "missing" if have == 0 else f"partial {have}/{total}"
        state = "present" if status.present else state
        if not status.present and status.archive is not None:
            state += " (archive not extracted)"
        rows.append((name, state, str(root / status.info.folder)))
    width = [max(len(r[i]) for r in rows + [("NAME", "STATUS", "LOCATION")]) for i in range(2)]
    for row in [("NAME", "STATUS", "LOCATION")] + rows:
        print(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}", file=out)
    if any(not dataset_status(n, root).present for n in DATASETS):
        print("fetch one with: ml2bench data download NAME", file=out)
    return 0


def _run_download(args: argparse.Namespace, out: TextIO) -> int:
    from ml2bench.data.datasets import get_dataset
    from ml2bench.data.download import download_dataset

    get_dataset(args.name)  # an unknown name: one line listing the valid ones
    progress = False if args.no_progress else None
    paths = download_dataset(args.name, args.data_dir, args.mirror, force=args.force,
                             timeout=args.timeout, progress=progress,
                             log=lambda line: print(line, file=out, flush=True))
    folder = next(iter(paths.values())).parent
    print(f"{args.name}: ready in {folder}", file=out)
    return 0


def _run_verify(args: argparse.Namespace, out: TextIO) -> int:
    from ml2bench.data.datasets import download_hint, get_dataset
    from ml2bench.data.verify import verify

    get_dataset(args.name)  # an unknown name: one line listing the valid ones
    checks = verify(args.name, args.data_dir)
    for check in checks:
        print(f"{check.status:<8}  {check.path}: {check.detail}", file=out)
    bad = [c for c in checks if not c.ok]
    if not bad:
        print(f"{args.name}: all {len(checks)} files ok", file=out)
        return 0
    root, _ = describe_data_dir(args.data_dir)
    print(f"{args.name}: {len(bad)} of {len(checks)} files not ok; "
          f"fetch them with: {download_hint(args.name, root)} --force", file=out)
    return 1


def run_data_command(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    """Execute a parsed ``ml2bench data ...`` command.

    Parameters
    ----------
    args : argparse.Namespace
        Arguments parsed by a parser built with :func:`add_data_parser`.
    out : text stream, optional
        Where to print (default ``sys.stdout``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 if ``verify`` found a missing or bad file.

    Raises
    ------
    UserError
        On a failed download, an unsafe archive, a bad mirror, etc.
    """
    out = sys.stdout if out is None else out
    handlers = {"list": _run_list, "download": _run_download, "verify": _run_verify}
    return handlers[args.data_command](args, out)
