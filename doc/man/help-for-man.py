#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print a program's --help or --version for help2man.

help2man runs `help-for-man.py PROGRAM... --help`. The help text passes
through unchanged except a trailing "Example:" block: help2man would read its
indented command lines as options, so each page's include file carries the
examples instead (doc/man/*.h2m).
"""
import re
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        print('usage: help-for-man.py PROGRAM [ARG...] --help|--version', file=sys.stderr)
        return 2
    out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=True).stdout.decode()
    if sys.argv[-1] == '--help':
        lines = out.splitlines()
        for i, line in enumerate(lines):
            if re.match(r'Examples?:\s*$', line):
                lines = lines[:i]
                break
        out = '\n'.join(lines).rstrip('\n') + '\n'
    sys.stdout.write(out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
