#!/usr/bin/env python3
"""check_json_lines.py LOG: whether every line of LOG is one JSON object with ts, level
and msg (nicproxy --logging-format=json). Prints "N lines, not a JSON object with ts,
level, msg: [line numbers]"; exits 1 when any line is not, or LOG is empty."""
import json
import sys

lines = open(sys.argv[1], encoding="utf-8", errors="surrogateescape").read().splitlines()
bad = []
for number, line in enumerate(lines, 1):
    try:
        value = json.loads(line)
    except ValueError:
        bad.append(number)
        continue
    if not isinstance(value, dict) or not {"ts", "level", "msg"} <= value.keys():
        bad.append(number)
print("%d lines, not a JSON object with ts, level, msg: %s" % (len(lines), bad))
sys.exit(1 if bad or not lines else 0)
