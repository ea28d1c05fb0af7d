"""Shared pieces of the stage scripts: argument parser, logging, error reporting."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

from crosskd.config import load_params
from crosskd.errors import CrossKDError

log = logging.getLogger("crosskd")


def stage_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="parameter file (DVC's params.yaml)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return p


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_stage(
    parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace, dict], Any]
) -> int:
    """Parse args, set up logging, load params and run ``body``; user errors exit 1 cleanly."""
    args = parser.parse_args()
    setup_logging(args.verbose, args.quiet)
    # SIGTERM (a killed job, `timeout`, a CI cancel) unwinds like Ctrl-C, so that the atomic
    # writes' cleanup runs and no temporary folder of a large download is left behind.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        body(args, load_params(args.params))
    except CrossKDError as exc:
        log.error("%s", exc)
        return 1
    except (ValueError, KeyError) as exc:  # bad parameter values surface here
        # One line for the user; the traceback with -v, in case it is a bug after all.
        log.error("%s: %s", type(exc).__name__, exc, exc_info=args.verbose)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("this module is a library; run a script in pipeline/")
