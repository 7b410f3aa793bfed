"""(c) Resume: N effects, then the marker effect (which kills the first run, and on the rerun
writes the moment the frontier was reached). Prints nothing before the marker."""

import sys

from bench_ext import mark, ping

n = int(sys.argv[1])
for i in range(n):
    ping(i)
mark(sys.argv[2])
