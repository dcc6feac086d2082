"""`gateway` command line: `demo`, `sim`, `bench`, `journal ...`, `replica`.

Each subcommand lives with the concern it drives and is imported only when it is parsed or
run: the registry below holds only names, help texts and "module:function" references, so
`gateway --help` imports nothing of them, `gateway journal verify` never loads the simulator
and `gateway sim` never opens a journal.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main"]


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    help: str
    add_arguments: str  # "module:function" taking the subcommand's parser
    run: str  # "module:function" taking the parsed namespace, returning an exit code


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "demo",
        "Live run through faults on the embedded simulator.",
        "gateway.demo:add_arguments",
        "gateway.demo:run",
    ),
    Subcommand(
        "sim",
        "Serve the venue simulator for your own tests.",
        "venues.sim.cli:add_arguments",
        "venues.sim.cli:run",
    ),
    Subcommand(
        "journal",
        "Inspect and verify a command journal.",
        "gateway.journal.cli:add_arguments",
        "gateway.journal.cli:run",
    ),
    Subcommand(
        "replica",
        "A gateway's state rebuilt from its audit stream on NATS (needs the nats extra).",
        "gateway.replication.cli:add_arguments",
        "gateway.replication.cli:run",
    ),
    Subcommand(
        "bench",
        "Run the benchmark harness (needs the source checkout).",
        "benchmarks.run:add_arguments",
        "benchmarks.run:run",
    ),
)


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class _LazySubcommandParser(argparse.ArgumentParser):
    """A subcommand's parser that imports its module and adds its arguments the first time it parses.

    argparse hands a subparser its share of the command line through ``parse_known_args``, so
    only the chosen subcommand's module is ever imported; the top-level help lists every
    subcommand from the registry's help texts alone.
    """

    def __init__(self, *args: Any, subcommand: Subcommand | None = None, **kwargs: Any):
        # A subcommand's own subparsers (`journal runs`) are of this class too, with nothing to load.
        super().__init__(*args, **kwargs)
        self._subcommand = subcommand

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._subcommand is not None:
            subcommand, self._subcommand = self._subcommand, None
            try:
                add_arguments: Callable[[argparse.ArgumentParser], None] = _resolve(subcommand.add_arguments)
            except ModuleNotFoundError as exc:
                # e.g. `gateway bench` outside a source checkout, or without its extra: the other
                # subcommands still work. Any other ImportError is a bug and keeps its traceback.
                self.exit(2, f"`gateway {subcommand.name}` is not available here: {exc}\n")
            add_arguments(self)
            self.set_defaults(_run=subcommand.run)
        return super().parse_known_args(args, namespace)


def _logging_options(parser: argparse.ArgumentParser, *, default: Any) -> None:
    """``--log-json`` / ``--log-level``, accepted before or after the subcommand's name."""
    parser.add_argument(
        "--log-json", action="store_true", default=default, help="log one JSON object per line (stderr)"
    )
    parser.add_argument("--log-level", default=default, metavar="LEVEL", help="DEBUG, INFO (default), WARNING...")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Order gateway for crypto venues.")
    _logging_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_LazySubcommandParser)
    for command in SUBCOMMANDS:
        sub_parser = sub.add_parser(command.name, help=command.help, description=command.help, subcommand=command)
        _logging_options(sub_parser, default=argparse.SUPPRESS)  # a top-level value is kept if not repeated
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.log_json or args.log_level:
        # Before the subcommand runs: its own logging.basicConfig then finds a handler and does nothing.
        from gateway.logs import configure

        configure(json=bool(args.log_json), level=str(args.log_level or "INFO").upper())
    from gateway.loop import install

    install()  # uvloop when installed (extra "uvloop"); GATEWAY_LOOP=asyncio keeps asyncio's loop
    run: Callable[[argparse.Namespace], int] = _resolve(args._run)
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
