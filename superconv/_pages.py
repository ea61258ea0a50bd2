"""What the generated book pages share: a Markdown table, and the command line that prints a page
or writes it to the file the book builds from (``python -m superconv.fact_sheet --write ...``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, List, Optional, Sequence

__all__ = ["md_table", "page_main"]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    """The lines of a Markdown table (cells as given, already escaped), then a blank line."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows), ""]


def page_main(prog: str, description: str, page: Callable[[], str],
              argv: Optional[Sequence[str]] = None) -> None:
    """``prog [--write PATH]``: print ``page()``, or write it to PATH."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--write", metavar="PATH", type=Path, help="write the page to PATH")
    args = ap.parse_args(argv)
    text = page()
    if args.write:
        args.write.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
