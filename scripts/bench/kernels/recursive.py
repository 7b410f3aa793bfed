"""Recursive kernel: naive Fibonacci, binary trees built and walked recursively, an N-queens
backtracking search, and a recursive walk over a nested document (the shape of a config merger).

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time


def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


class Node:
    __slots__ = ("left", "right", "value")

    def __init__(self, left, right, value):
        self.left = left
        self.right = right
        self.value = value

    def check(self):
        if self.left is None:
            return self.value
        return self.value + self.left.check() - self.right.check()

    def depth(self):
        if self.left is None:
            return 1
        return 1 + max(self.left.depth(), self.right.depth())


def make_tree(value, depth):
    if depth == 0:
        return Node(None, None, value)
    return Node(make_tree(2 * value - 1, depth - 1), make_tree(2 * value, depth - 1), value)


def count_nodes(tree):
    if tree is None:
        return 0
    return 1 + count_nodes(tree.left) + count_nodes(tree.right)


def binary_trees(max_depth, iterations):
    total = 0
    for depth in range(4, max_depth + 1, 2):
        for i in range(iterations):
            tree = make_tree(i, depth)
            total += tree.check() + count_nodes(tree) + tree.depth()
    return total


def queens(n):
    """Count the solutions of the n-queens problem by backtracking."""
    columns, diagonals, anti_diagonals = set(), set(), set()

    def place(row):
        if row == n:
            return 1
        found = 0
        for col in range(n):
            if col in columns or row - col in diagonals or row + col in anti_diagonals:
                continue
            columns.add(col)
            diagonals.add(row - col)
            anti_diagonals.add(row + col)
            found += place(row + 1)
            columns.remove(col)
            diagonals.remove(row - col)
            anti_diagonals.remove(row + col)
        return found

    return place(0)


def make_document(breadth, depth, prefix="k"):
    if depth == 0:
        return len(prefix)
    doc = {}
    for i in range(breadth):
        key = f"{prefix}{i}"
        doc[key] = make_document(breadth, depth - 1, key) if i % 3 else [i, key, None]
    return doc


def merge(base, override):
    """Deep-merge ``override`` into a copy of ``base``, as configuration loaders do."""
    result = dict(base)
    for key, value in override.items():
        if key in result and isinstance(result[key], dict) and isinstance(value, dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def walk(node, path=()):
    """Sum of leaf sizes and path lengths of a nested structure."""
    if isinstance(node, dict):
        return sum(walk(value, path + (key,)) for key, value in node.items())
    if isinstance(node, list):
        return sum(walk(item, path) for item in node)
    if node is None:
        return len(path)
    if isinstance(node, str):
        return len(node)
    return node + len(path)


def run(scale):
    fibs = 0
    for i in range(max(1, int(60 * scale))):
        fibs += fib(18 + i % 8)
    trees = binary_trees(14, max(1, int(6 * scale)))
    solutions = 0
    for _ in range(max(1, int(20 * scale))):
        solutions += queens(8)
    base = make_document(6, 4)
    override = make_document(5, 4, "k")
    documents = 0
    for _ in range(max(1, int(100 * scale))):
        documents += walk(merge(base, override))
    return f"fib {fibs} trees {trees} queens {solutions} documents {documents}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"recursive: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
