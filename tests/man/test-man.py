#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every option a program's --help names appears in its man page.

Usage: test-man.py PROGRAM MANPAGE [PROGRAM MANPAGE...]
The pages are generated from --help by help2man (doc/man), so a failure means
a stale page or a generator that lost text; the page must also name
--version and render without groff warnings.
"""
import re
import shutil
import subprocess
import sys


def options_in_help(text):
    longs = set(re.findall(r'(?<![\w-])(--[a-z][a-z0-9-]*)', text))
    shorts = set(re.findall(r'^\s+(-[a-zA-Z]),', text, re.M))
    return sorted(longs | shorts)


def man_text(path):
    with open(path, errors='replace') as f:
        src = f.read()
    t = src.replace('\\-', '-').replace('\\(aq', "'").replace('\\e', '\\')
    t = re.sub(r'\\f[BIRP]|\\f\[[A-Z]*\]|\\&|\\:', '', t)
    return src, t


def main(argv):
    if len(argv) < 2 or len(argv) % 2:
        print('usage: test-man.py PROGRAM MANPAGE [PROGRAM MANPAGE...]')
        return 2
    bad = []
    for prog, page in zip(argv[0::2], argv[1::2]):
        help_text = subprocess.run([prog, '--help'], capture_output=True, text=True, timeout=60).stdout
        opts = options_in_help(help_text)
        if '--help' not in opts:
            bad.append('%s --help does not print its own options' % prog)
        src, text = man_text(page)
        missing = [o for o in opts + ['--version'] if not re.search(r'(?<![\w-])%s(?![\w-])' % re.escape(o), text)]
        if missing:
            bad.append('%s: %s missing from %s' % (prog, ' '.join(missing), page))
        for sec in ('NAME', 'SYNOPSIS', 'DESCRIPTION', 'SEE ALSO'):
            if not re.search(r'^\.SH "?%s"?\s*$' % sec, src, re.M):
                bad.append('%s has no %s section' % (page, sec))
        if shutil.which('man'):
            r = subprocess.run(['man', '--warnings', '-E', 'UTF-8', '-l', page], capture_output=True, text=True,
                               timeout=60, env={'PATH': '/usr/bin:/bin', 'MANWIDTH': '80', 'LANG': 'C.UTF-8'})
            # long option values cannot always be justified: typography, not an error
            warn = [w for w in r.stderr.splitlines() if w.strip() and not re.search(r'cannot (adjust|break) line', w)]
            if r.returncode != 0 or warn:
                bad.append('%s: man --warnings says: %s' % (page, '\n'.join(warn)))
        print('%s: %d options, all in %s' % (prog, len(opts), page) if not missing else '', flush=True)
    for b in bad:
        print('FAIL: ' + b)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
