"""The command line: python3 -m mmapkit."""

import sys

from . import __doc__ as _pkg_doc
from ._files import FormatError, Lapped, WriterStuck
from .ring import Ring
from .slot import Slot


def _main(argv):
    import argparse

    p = argparse.ArgumentParser(prog="python3 -m mmapkit", description=_pkg_doc.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("slot", help="print a slot's value as hex (and follow changes)")
    ps.add_argument("name")
    ps.add_argument("--offset", type=int, default=0)
    ps.add_argument("--follow", action="store_true")
    pt = sub.add_parser("tail", help="print a ring's records as 'seq hex' lines")
    pt.add_argument("name")
    pt.add_argument("--from-end", action="store_true")
    pt.add_argument("--follow", action="store_true")
    args = p.parse_args(argv)
    if args.cmd == "slot":
        with Slot(args.name, args.offset) as s:
            seq, value = s.load()
            print(seq, value.hex(), flush=True)
            while args.follow:
                seq = s.wait(seq)
                seq, value = s.load()
                print(seq, value.hex(), flush=True)
    elif args.cmd == "tail":
        with Ring(args.name, from_end=args.from_end) as r:
            def lapped(e):
                print("# %s" % e, file=sys.stderr)
            if args.follow:
                for seq, payload in r.follow(on_lapped=lapped):
                    print(seq, payload.hex(), flush=True)
            else:
                while True:
                    try:
                        rec = r.next()
                    except Lapped as e:
                        lapped(e)
                        continue
                    if rec is None:
                        break
                    print(rec[0], rec[1].hex())
    return 0


def main(argv=None):
    """Run the command line with argv (default sys.argv[1:]); return the exit status."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except (FormatError, WriterStuck, Lapped, OSError) as e:
        print("mmapkit: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
