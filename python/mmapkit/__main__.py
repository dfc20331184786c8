"""The command line: python3 -m mmapkit {ls,slot,tail} ...

Output matches the Go tool (`mmapkit shm cat`, `mmapkit ring tail`):
--format text|hex|json|raw, --seq to prefix a sequence number and a tab.
Exit status: 0 ok, 1 failed, 2 bad usage, 130 interrupted.
"""

import argparse
import base64
import json
import os
import sys
import unicodedata
from typing import IO, List, Optional

from ._files import FormatError, Lapped, WriterStuck
from .ring import Ring
from .segment import list_segments
from .slot import Slot

FORMATS = ("text", "hex", "json", "raw")

_FORMAT_HELP = (
    "how to print each value: text (one line each; bytes that are not printable UTF-8 escaped as "
    "\\n \\r \\t \\\\ \\xNN), hex (lower-case hex), json (one object per line: "
    '{"seq": N, "len": N, "text": "..."} for valid UTF-8, "base64" instead of "text" otherwise), '
    "raw (the bytes as they are, each followed by a newline). Default: text"
)


def _printable(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and
    # the ASCII space.
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def escape(data: bytes) -> str:
    """data as one line of text: printable UTF-8 as is, the rest escaped (as the Go tool does)."""
    out = []
    text = data.decode("utf-8", "surrogateescape")
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif "\udc80" <= ch <= "\udcff":  # a byte that is not UTF-8
            out.append("\\x%02x" % (ord(ch) - 0xDC00))
        elif not _printable(ch):
            out.append("".join("\\x%02x" % b for b in ch.encode("utf-8")))
        else:
            out.append(ch)
    return "".join(out)


def write_record(out: IO[bytes], fmt: str, seq: Optional[int], with_seq: bool, data: bytes) -> None:
    """Print one record (a slot value, a ring record) in format fmt."""
    prefix = b"%d\t" % seq if with_seq and seq is not None and fmt in ("text", "hex") else b""
    if fmt == "hex":
        line = prefix + data.hex().encode()
    elif fmt == "json":
        obj = {}
        if seq is not None:
            obj["seq"] = seq
        obj["len"] = len(data)
        try:
            obj["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            obj["base64"] = base64.b64encode(data).decode()
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    elif fmt == "raw":
        line = prefix + bytes(data)
    else:
        line = prefix + escape(data).encode("utf-8", "surrogateescape")
    out.write(line + b"\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m mmapkit",
        description="Read mmapkit's shared-memory segments, slots and rings (written by Go) from Python.",
        epilog="Exit status: 0 ok, 1 failed, 2 bad usage, 130 interrupted.",
    )
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")
    sub.required = True

    pl = sub.add_parser("ls", help="list the segments in /dev/shm", description="List the segments in /dev/shm: name, size, permissions and what they hold (slot, ring).")
    pl.add_argument("--json", action="store_true", help="print a JSON list of {name, size, mode, kind} instead of a table")

    ps = sub.add_parser("slot", help="print a slot's value (and follow changes)", description="Print the current value of a Go shm.Slot; with --follow, every new value as it is stored.")
    ps.add_argument("name", metavar="NAME", help="segment name in /dev/shm, or a path (with a '/')")
    ps.add_argument("--offset", type=int, default=0, help="offset of the slot header in the segment (default 0)")
    ps.add_argument("-f", "--follow", action="store_true", help="keep printing each new value (Ctrl-C to stop)")
    ps.add_argument("--format", choices=FORMATS, default="text", help=_FORMAT_HELP)
    ps.add_argument("--seq", action="store_true", help="prefix each value with its sequence number and a tab (text and hex)")
    ps.add_argument("--stuck-timeout", type=float, default=1.0, metavar="SECONDS", help="give up when no consistent value can be read for this long (default 1)")

    pt = sub.add_parser("tail", help="print a ring's records (and follow the writer)", description="Print the records of a ring file or shm.Queue, oldest first; with --follow, keep printing new ones.")
    pt.add_argument("name", metavar="NAME", help="segment name in /dev/shm, or a path (with a '/')")
    pt.add_argument("--from-end", action="store_true", help="skip the records already there: print only new ones (with --follow)")
    pt.add_argument("-f", "--follow", action="store_true", help="keep printing records as they are appended (Ctrl-C to stop)")
    pt.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="with --follow, stop after this long without a new record (default: never)")
    pt.add_argument("--format", choices=FORMATS, default="text", help=_FORMAT_HELP)
    pt.add_argument("--seq", action="store_true", help="prefix each record with its sequence number and a tab (text and hex)")
    return p


def _ls(args: argparse.Namespace, out: IO[bytes]) -> int:
    segs = list_segments()
    if args.json:
        out.write(json.dumps([{"name": s.name, "size": s.size, "mode": "%04o" % s.mode, "kind": s.kind} for s in segs], indent=2).encode() + b"\n")
        return 0
    rows = [("NAME", "SIZE", "MODE", "KIND")] + [(s.name, str(s.size), "%04o" % s.mode, s.kind or "-") for s in segs]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        line = "  ".join((r[i].rjust(widths[i]) if i == 1 else r[i].ljust(widths[i])) for i in range(4))
        out.write(line.rstrip().encode() + b"\n")
    return 0


def _slot(args: argparse.Namespace, out: IO[bytes]) -> int:
    with Slot(args.name, args.offset, stuck_timeout=args.stuck_timeout) as s:
        seq, value = s.load()
        write_record(out, args.format, seq, args.seq, value)
        out.flush()
        while args.follow:
            seq = s.wait(seq)
            seq, value = s.load()
            write_record(out, args.format, seq, args.seq, value)
            out.flush()
    return 0


def _tail(args: argparse.Namespace, out: IO[bytes], err: IO[str]) -> int:
    def lapped(e: Lapped) -> None:
        print("mmapkit: %s" % e, file=err, flush=True)

    with Ring(args.name, from_end=args.from_end) as r:
        if args.follow:
            for seq, payload in r.follow(timeout=args.timeout, on_lapped=lapped):
                write_record(out, args.format, seq, args.seq, payload)
                out.flush()
            return 0
        while True:
            try:
                rec = r.next()
            except Lapped as e:
                lapped(e)
                continue
            if rec is None:
                return 0
            write_record(out, args.format, rec[0], args.seq, rec[1])


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line with argv (default sys.argv[1:]); return the exit status."""
    args = _parser().parse_args(argv)  # exits with status 2 on bad usage
    out = sys.stdout.buffer
    try:
        if args.cmd == "ls":
            return _ls(args, out)
        if args.cmd == "slot":
            return _slot(args, out)
        return _tail(args, out, sys.stderr)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as a Go program
        # killed by SIGPIPE does, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except (FormatError, WriterStuck, Lapped, OSError, ValueError) as e:
        sys.stdout.flush()
        print("mmapkit: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
