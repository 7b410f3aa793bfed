"""Generator kernel: a log-processing pipeline of generator functions (produce, parse, filter,
window, aggregate), ``yield from`` delegation, itertools glue, and an incremental prime sieve.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import itertools
import os
import sys
import time
from collections import deque

SERVICES = ["api", "auth", "billing", "search", "worker"]
LEVELS = ["DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR"]
PATHS = ["/", "/login", "/items", "/items/42", "/cart", "/checkout", "/search?q=x"]


def log_lines(n, seed=99):
    state = seed
    for i in range(n):
        state = (state * 1664525 + 1013904223) % 4294967296
        service = SERVICES[state % len(SERVICES)]
        level = LEVELS[(state >> 5) % len(LEVELS)]
        path = PATHS[(state >> 9) % len(PATHS)]
        latency = (state >> 13) % 900 + 3
        yield f"{i:08d} {service} {level} GET {path} {latency}ms"


def parse(lines):
    for line in lines:
        seq, service, level, method, path, latency = line.split(" ")
        yield int(seq), service, level, method, path, int(latency[:-2])


def only(entries, levels):
    for entry in entries:
        if entry[2] in levels:
            yield entry


def latencies(entries):
    for entry in entries:
        yield entry[5]


def windows(values, size):
    window = deque(maxlen=size)
    for value in values:
        window.append(value)
        if len(window) == size:
            yield tuple(window)


def moving_average(values, size):
    total = 0
    window = deque()
    for value in values:
        window.append(value)
        total += value
        if len(window) > size:
            total -= window.popleft()
        yield total / len(window)


def chunked(iterable, size):
    iterator = iter(iterable)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk


def flatten(nested):
    for item in nested:
        if isinstance(item, list):
            yield from flatten(item)
        else:
            yield item


def primes():
    """Incremental sieve of Eratosthenes."""
    composites = {}
    yield 2
    for candidate in itertools.count(3, 2):
        step = composites.pop(candidate, None)
        if step is None:
            composites[candidate * candidate] = 2 * candidate
            yield candidate
        else:
            multiple = candidate + step
            while multiple in composites:
                multiple += step
            composites[multiple] = step


def pipeline(n):
    errors_by_service = {}
    for seq, service, _level, _method, _path, latency in only(parse(log_lines(n)), {"ERROR"}):
        errors_by_service[service] = errors_by_service.get(service, 0) + 1 + (seq + latency) % 2
    peak = max(max(w) - min(w) for w in windows(latencies(parse(log_lines(n // 2))), 16))
    smooth = max(moving_average(latencies(only(parse(log_lines(n // 2)), {"INFO", "WARNING"})), 50))
    batches = sum(len(chunk) * (i % 3) for i, chunk in enumerate(chunked(log_lines(n // 4), 64)))
    nested = [[i, [i + 1, [i + 2, i + 3]]] for i in range(n // 20)]
    flat = sum(flatten(nested))
    return sorted(errors_by_service.items()), peak, round(smooth, 6), batches, flat


def run(scale):
    n = max(400, int(40_000 * scale))
    results = []
    for _ in range(3):
        results.append(pipeline(n))
    prime_count = max(100, int(30_000 * scale))
    last_prime = next(itertools.islice(primes(), prime_count - 1, None))
    twin = sum(
        1 for p, q in itertools.pairwise(itertools.islice(primes(), prime_count)) if q - p == 2
    )
    return f"{results[-1]} prime#{prime_count}={last_prime} twins {twin}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"generators: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
