"""Constraint-solver kernel: a small finite-domain CSP solver in the style of textbook and hobby
solvers — ``Variable`` and ``Domain`` objects, ``Constraint`` subclasses with a polymorphic
``is_satisfied``/``revise``, AC-3 arc consistency and backtracking search with the
minimum-remaining-values heuristic and forward checking. It solves sudoku puzzles, counts
n-queens solutions and colours a map. Almost every method is a few lines long and calls the next
through ``self.x()`` or a property, which is the worst case for per-call overhead.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time
from collections import deque


class Domain:
    """The values a variable may still take, with an undo trail for backtracking."""

    def __init__(self, values):
        self.values = list(values)
        self.trail = []

    def __len__(self):
        return len(self.values)

    def __iter__(self):
        return iter(list(self.values))

    def __contains__(self, value):
        return value in self.values

    @property
    def is_empty(self):
        return not self.values

    @property
    def is_singleton(self):
        return len(self.values) == 1

    def first(self):
        return self.values[0]

    def remove(self, value):
        self.values.remove(value)
        self.trail.append(value)

    def mark(self):
        return len(self.trail)

    def undo_to(self, mark):
        while len(self.trail) > mark:
            self.values.append(self.trail.pop())


class Variable:
    def __init__(self, name, values):
        self.name = name
        self.domain = Domain(values)
        self.value = None
        self.constraints = []

    def __repr__(self):
        return f"Variable({self.name!r})"

    @property
    def is_assigned(self):
        return self.value is not None

    @property
    def size(self):
        return len(self.domain)

    def assign(self, value):
        self.value = value

    def unassign(self):
        self.value = None

    def current_or(self, candidate):
        return candidate if self.value is None else self.value

    def neighbours(self):
        for constraint in self.constraints:
            yield from constraint.others(self)


class Constraint:
    """A binary constraint between two variables."""

    def __init__(self, left, right):
        self.left = left
        self.right = right
        left.constraints.append(self)
        right.constraints.append(self)

    def others(self, variable):
        return [self.right] if variable is self.left else [self.left]

    def holds(self, a, b):
        raise NotImplementedError

    def is_satisfied(self, variable, value, other, other_value):
        if variable is self.left:
            return self.holds(value, other_value)
        return self.holds(other_value, value)

    def has_support(self, variable, value, other):
        for other_value in other.domain.values:
            if self.is_satisfied(variable, value, other, other_value):
                return True
        return False

    def revise(self, variable, other):
        removed = False
        for value in variable.domain:
            if not self.has_support(variable, value, other):
                variable.domain.remove(value)
                removed = True
        return removed

    def consistent_with(self, variable, value):
        other = self.others(variable)[0]
        if not other.is_assigned:
            return True
        return self.is_satisfied(variable, value, other, other.value)


class NotEqual(Constraint):
    def holds(self, a, b):
        return a != b

    def has_support(self, variable, value, other):
        # a cheap special case: any other value supports a "different" constraint
        return len(other.domain) > 1 or value not in other.domain


class QueensSafe(Constraint):
    def __init__(self, left, right, distance):
        super().__init__(left, right)
        self.distance = distance

    def holds(self, a, b):
        return a != b and abs(a - b) != self.distance


class Problem:
    def __init__(self):
        self.variables = []
        self.constraints = []
        self.by_name = {}

    def add_variable(self, name, values):
        variable = Variable(name, values)
        self.variables.append(variable)
        self.by_name[name] = variable
        return variable

    def add_constraint(self, constraint):
        self.constraints.append(constraint)
        return constraint

    def variable(self, name):
        return self.by_name[name]

    def arcs(self):
        for constraint in self.constraints:
            yield constraint, constraint.left, constraint.right
            yield constraint, constraint.right, constraint.left


class SolverStats:
    def __init__(self):
        self.nodes = 0
        self.backtracks = 0
        self.revisions = 0
        self.solutions = 0

    def as_tuple(self):
        return (self.nodes, self.backtracks, self.revisions, self.solutions)


class Solver:
    def __init__(self, problem, find_all=False):
        self.problem = problem
        self.find_all = find_all
        self.stats = SolverStats()
        self.first_solution = None

    @property
    def variables(self):
        return self.problem.variables

    def ac3(self):
        queue = deque(self.problem.arcs())
        while queue:
            constraint, variable, other = queue.popleft()
            self.stats.revisions += 1
            if constraint.revise(variable, other):
                if variable.domain.is_empty:
                    return False
                for again in variable.constraints:
                    if again is not constraint:
                        queue.append((again, again.others(variable)[0], variable))
        return True

    def unassigned(self):
        return [v for v in self.variables if not v.is_assigned]

    def select_variable(self):
        candidates = self.unassigned()
        if not candidates:
            return None
        return min(candidates, key=self.priority)

    def priority(self, variable):
        return (variable.size, -len(variable.constraints))

    def is_consistent(self, variable, value):
        for constraint in variable.constraints:
            if not constraint.consistent_with(variable, value):
                return False
        return True

    def marks(self):
        return [v.domain.mark() for v in self.variables]

    def restore(self, marks):
        for variable, mark in zip(self.variables, marks, strict=True):
            variable.domain.undo_to(mark)

    def forward_check(self, variable, value):
        for constraint in variable.constraints:
            other = constraint.others(variable)[0]
            if other.is_assigned:
                continue
            for other_value in other.domain:
                if not constraint.is_satisfied(variable, value, other, other_value):
                    other.domain.remove(other_value)
            if other.domain.is_empty:
                return False
        return True

    def record_solution(self):
        self.stats.solutions += 1
        if self.first_solution is None:
            self.first_solution = {v.name: v.value for v in self.variables}

    def search(self):
        variable = self.select_variable()
        if variable is None:
            self.record_solution()
            return not self.find_all
        for value in sorted(variable.domain):
            self.stats.nodes += 1
            if not self.is_consistent(variable, value):
                continue
            marks = self.marks()
            variable.assign(value)
            if self.forward_check(variable, value) and self.search():
                return True
            variable.unassign()
            self.restore(marks)
            self.stats.backtracks += 1
        return False

    def solve(self):
        if not self.ac3():
            return False
        self.search()
        return self.stats.solutions > 0


# --- problems ----------------------------------------------------------------------------------

PUZZLES = [
    "530070000600195000098000060800060003400803001700020006060000280000419005000080079",
    "003020600900305001001806400008102900700000008006708200002609500800203009005010300",
    "000000907000420180000705026100904000050000040000507009920108000034059000507000000",
    "100007090030020008009600500005300900010080002600004000300000010040000007007000300",
    "000000010400000000020000000000050407008000300001090000300400200050100000000806000",
]


def sudoku(puzzle):
    problem = Problem()
    for index, ch in enumerate(puzzle):
        row, col = divmod(index, 9)
        values = [int(ch)] if ch != "0" else range(1, 10)
        problem.add_variable((row, col), values)
    cells = [(r, c) for r in range(9) for c in range(9)]
    for i, a in enumerate(cells):
        for b in cells[i + 1 :]:
            same_box = a[0] // 3 == b[0] // 3 and a[1] // 3 == b[1] // 3
            if a[0] == b[0] or a[1] == b[1] or same_box:
                problem.add_constraint(NotEqual(problem.variable(a), problem.variable(b)))
    return problem


def queens(n):
    problem = Problem()
    rows = [problem.add_variable(f"q{i}", range(n)) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            problem.add_constraint(QueensSafe(rows[i], rows[j], j - i))
    return problem


REGIONS = {
    "WA": ["NT", "SA"],
    "NT": ["WA", "SA", "Q"],
    "SA": ["WA", "NT", "Q", "NSW", "V"],
    "Q": ["NT", "SA", "NSW"],
    "NSW": ["Q", "SA", "V"],
    "V": ["SA", "NSW", "T"],
    "T": ["V"],
}


def map_colouring(colours):
    problem = Problem()
    for name in REGIONS:
        problem.add_variable(name, range(colours))
    seen = set()
    for name, neighbours in REGIONS.items():
        for other in neighbours:
            key = tuple(sorted((name, other)))
            if key not in seen:
                seen.add(key)
                problem.add_constraint(NotEqual(problem.variable(name), problem.variable(other)))
    return problem


def grid_checksum(solution):
    return sum((r * 9 + c + 1) * v for (r, c), v in solution.items())


def run(scale):
    sudoku_sum = 0
    stats = [0, 0, 0, 0]
    puzzles = PUZZLES[:4] * max(1, int(6 * scale)) + PUZZLES[4:] * int(scale)
    for puzzle in puzzles:
        solver = Solver(sudoku(puzzle))
        if solver.solve():
            sudoku_sum += grid_checksum(solver.first_solution)
        stats = [a + b for a, b in zip(stats, solver.stats.as_tuple(), strict=True)]
    queen_solutions = 0
    for i in range(max(1, int(10 * scale))):
        solver = Solver(queens(6 + i % 3), find_all=True)
        solver.solve()
        queen_solutions += solver.stats.solutions
        stats = [a + b for a, b in zip(stats, solver.stats.as_tuple(), strict=True)]
    colourings = 0
    for _ in range(max(1, int(30 * scale))):
        for colours in (3, 4):
            solver = Solver(map_colouring(colours), find_all=True)
            solver.solve()
            colourings += solver.stats.solutions
    nodes, backtracks, revisions, _ = stats
    return (
        f"sudoku {sudoku_sum} queens {queen_solutions} colourings {colourings} "
        f"nodes {nodes} backtracks {backtracks} revisions {revisions}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"constraint_solver: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
