"""The tally the Python tests keep: check() counts a pass or records (and prints) a failure,
summary() says where a test stands, finish() prints the totals and exits 1 on any failure."""
import sys

failures = []
_passed = [0]


def check(cond, what):
    if cond:
        _passed[0] += 1
    else:
        failures.append(what)
        print("FAILED:", what)


def summary():
    return f"{_passed[0]} passed, {len(failures)} failed"


def finish():
    print(summary())
    sys.exit(1 if failures else 0)
