#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The manual pages are complete and clean (issue 22):

  options   every long option that a program's `--help` lists — hybridgate and each of its
            subcommands (walked from the "Subcommands:" lists), hybridgate-native-host — is named
            in its manual page where that command is described: an OPTIONS subsection (.SS) or a
            COMMANDS entry (.TP) whose title names the command ("register and sign-in", "pam
            enroll", "links list") or a command above it; every subcommand has such a place;
  render    every page in man/ formats without a warning (groff -man -ww) and man -l renders it
            with NAME and SYNOPSIS and nothing on standard error.

hybridgate-relay(8) is checked entry by entry by tests/relay/test_manpage.py.

usage: test_man_pages.py MAN_DIR options PROGRAM PAGE
       test_man_pages.py MAN_DIR render"""
import glob
import os
import re
import subprocess
import sys

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures.append(what)


def help_of(argv):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def parse_help(text):
    """(long options, subcommand names) of one CLI11 --help text."""
    opts, subs, section = set(), [], None
    for line in text.splitlines():
        if re.match(r"^[A-Za-z][A-Za-z ]*:\s*$", line):  # "Options:", "Subcommands:", "Positionals:"
            section = line.strip().rstrip(":")
            continue
        m = re.match(r"^  (\S+)", line)
        if not m:
            continue
        if section == "Subcommands":
            subs.append(m.group(1))
        else:
            opts.update(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", m.group(1)))
    return opts, subs


def man_text(page):
    """The page's source with groff's escapes for '-' undone, so "\\-\\-tunnel\\-url" reads as
    "--tunnel-url"."""
    return open(page).read().replace("\\-", "-").replace("\\(en", "-")


def walk(argv, found):
    rc, text = help_of(argv)
    check(rc == 0, "%s --help exits 0" % " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv)))
    opts, subs = parse_help(text)
    found.append((argv[1:], opts))
    for s in subs:
        walk(argv + [s], found)


def blocks(text):
    """(title, body) of each OPTIONS subsection (.SS) and each COMMANDS entry (.TP tag line)."""
    out, section, title, body, tag_next = [], None, None, [], False

    def flush():
        if title is not None:
            out.append((title, "\n".join(body)))

    for line in text.splitlines():
        if line.startswith(".SH"):
            flush()
            title, body = None, []
            section = line[3:].strip().strip('"')
            continue
        if section == "OPTIONS" and line.startswith(".SS"):
            flush()
            title, body = line[3:].strip().strip('"'), []
            continue
        if section == "COMMANDS" and line.startswith(".TP"):
            flush()
            title, body, tag_next = None, [], True
            continue
        if tag_next:
            title, tag_next = re.sub(r"\\f[BIRP]", "", line), False
        if title is not None:
            body.append(line)
    flush()
    return out


def names(title, path):
    words = " ".join(path)
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(words), title) is not None


def has(text, option):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(option), text) is not None


def options(program, page):
    text = man_text(page)
    found = []
    if os.path.basename(program) == "hybridgate":
        walk([program], found)
        check(len(found) > 10, "hybridgate has its subcommands (%d commands walked)" % len(found))
    else:
        # Not CLI11: every --option its help text names, and --help itself.
        rc, help_text = help_of([program])
        check(rc == 0, "%s --help exits 0" % program)
        found.append(([], set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", help_text)) | {"--help"}))
    parts = blocks(text)
    total = 0
    for path, opts in found:
        name = " ".join(path) or os.path.basename(program)
        if not path:  # the program itself: anywhere in the page
            scope = text
        else:
            own = [b for t, b in parts if names(t, path)]
            check(bool(own), "%s: described in %s (an OPTIONS subsection or a COMMANDS entry names it)"
                  % (name, os.path.basename(page)))
            scope = "\n".join(b for t, b in parts if any(names(t, path[:n]) for n in range(1, len(path) + 1)))
        for o in sorted(opts):
            if path and o == "--help":
                continue  # every command has it; the page documents it once
            total += 1
            check(has(scope, o), "%s: %s is in %s where %s is described" % (name, o, os.path.basename(page), name))
    check(total > 0, "%d options checked" % total)


def render(man_dir):
    pages = sorted(glob.glob(os.path.join(man_dir, "*.[1-8]")))
    check(len(pages) >= 5, "man/ holds the pages (%s)" % ", ".join(os.path.basename(p) for p in pages))
    for page in pages:
        name = os.path.basename(page)
        r = subprocess.run(["groff", "-man", "-ww", "-z", page], capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr == "", "%s: groff -ww is silent %s" % (name, r.stderr.strip()))
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_STDERR="1")
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True, env=env)
        check(r.returncode == 0 and "NAME" in r.stdout and "SYNOPSIS" in r.stdout, "%s: man -l renders it" % name)
        check(r.stderr.strip() == "", "%s: man --warnings -l is silent %s" % (name, r.stderr.strip()))
        if name == "hybridgate.1":  # the error JSON as the CLI prints it, quotes and all
            flat = " ".join(r.stdout.replace("\u2010\n", "").split())
            check('{"error": {"code": "code", "message": "sentence"}}' in flat,
                  "hybridgate.1 shows the error JSON with its quotes")
            check(re.search(r"tunnel server[^.]*hybridgate-native-host", flat) is None,
                  "hybridgate.1 does not call hybridgate-native-host a tunnel server")


if __name__ == "__main__":
    man_dir, what = sys.argv[1], sys.argv[2]
    if what == "options":
        options(sys.argv[3], os.path.join(man_dir, sys.argv[4]))
    else:
        render(man_dir)
    print("%d failed" % len(failures))
    sys.exit(1 if failures else 0)
