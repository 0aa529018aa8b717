#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A pinentry for tests: speaks the Assuan protocol of GnuPG's pinentry programs on standard input
and output (https://www.gnupg.org/documentation/manuals/assuan/ ; pinentry's commands SETDESC,
SETPROMPT, SETTITLE, SETERROR, OPTION, GETPIN, BYE), written from the protocol's description, not
from hybridgate's client. GETPIN answers the PIN in $FAKE_PINENTRY_PIN ("D <percent-escaped>",
then "OK"), or "ERR 83886179 Operation cancelled" when it is unset. Every command line it got is
appended to $FAKE_PINENTRY_LOG (the PIN itself never is)."""

import os
import sys


def escape(s):
    out = []
    for ch in s.encode():
        if ch in (ord("%"), ord("\r"), ord("\n")) or ch < 0x20:
            out.append("%%%02X" % ch)
        else:
            out.append(chr(ch))
    return "".join(out)


def main():
    log = open(os.environ["FAKE_PINENTRY_LOG"], "a") if os.environ.get("FAKE_PINENTRY_LOG") else None
    out = sys.stdout
    out.write("OK Pleased to meet you\n")
    out.flush()
    for line in sys.stdin:
        line = line.rstrip("\n")
        if log:
            log.write(line + "\n")
            log.flush()
        cmd = line.split(" ", 1)[0].upper()
        if cmd == "GETPIN":
            pin = os.environ.get("FAKE_PINENTRY_PIN")
            if pin is None:
                out.write("ERR 83886179 Operation cancelled <Pinentry>\n")
            else:
                out.write("D %s\nOK\n" % escape(pin))
        elif cmd == "BYE":
            out.write("OK closing connection\n")
            out.flush()
            return
        else:
            out.write("OK\n")
        out.flush()


if __name__ == "__main__":
    main()
