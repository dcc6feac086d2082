"""`gateway` command line: `demo`, `sim`, `bench`, `journal ...`.

Each subcommand lives with the concern it drives and is imported only when used, so
`gateway journal verify` never loads the simulator and `gateway sim` never opens a journal.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function that adds arguments, function that runs and returns an exit code)
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gateway.demo", "Live run through faults on the embedded simulator."),
    "sim": ("venues.sim.cli", "Serve the venue simulator for your own tests."),
    "journal": ("gateway.journal.cli", "Inspect and verify a command journal."),
    "bench": ("benchmarks.run", "Run the benchmark harness (needs the source checkout)."),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="Order gateway for crypto venues.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in _SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            # e.g. `gateway bench` outside a source checkout: the other subcommands still work.
            p.set_defaults(_missing=f"`gateway {name}` is not available here: {exc}")
            continue
        add_arguments: Callable[[argparse.ArgumentParser], None] = mod.add_arguments
        add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = getattr(args, "_missing", None)
    if missing:
        print(missing, file=sys.stderr)
        return 2
    run: Callable[[argparse.Namespace], int] = importlib.import_module(args._module).run
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
