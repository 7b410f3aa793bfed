"""Graph kernel: a ``Graph`` class over adjacency dicts, with the algorithms a routing or build
tool writes by hand — Dijkstra shortest paths with ``heapq``, BFS levels, iterative
DFS, topological sort of a dependency DAG (Kahn's algorithm), connected components and Kruskal's
minimum spanning tree on a ``UnionFind`` class with path compression and union by rank. Method
calls (``graph.neighbours(v)``, ``uf.find(x)``) sit in the tight inner loops.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import heapq
import os
import random
import sys
import time
from collections import deque


class Graph:
    def __init__(self, directed=False):
        self.directed = directed
        self.adjacency = {}

    def add_vertex(self, vertex):
        self.adjacency.setdefault(vertex, {})

    def add_edge(self, a, b, weight=1):
        self.add_vertex(a)
        self.add_vertex(b)
        self.adjacency[a][b] = weight
        if not self.directed:
            self.adjacency[b][a] = weight

    def neighbours(self, vertex):
        return self.adjacency[vertex].items()

    def successors(self, vertex):
        return self.adjacency[vertex].keys()

    def vertices(self):
        return list(self.adjacency)

    def edges(self):
        for a, targets in self.adjacency.items():
            for b, weight in targets.items():
                if self.directed or a < b:
                    yield weight, a, b

    def __len__(self):
        return len(self.adjacency)

    def __contains__(self, vertex):
        return vertex in self.adjacency


class UnionFind:
    def __init__(self, items=()):
        self.parent = {}
        self.rank = {}
        self.sets = 0
        for item in items:
            self.add(item)

    def add(self, item):
        if item not in self.parent:
            self.parent[item] = item
            self.rank[item] = 0
            self.sets += 1

    def find(self, item):
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a, b):
        root_a, root_b = self.find(a), self.find(b)
        if root_a == root_b:
            return False
        if self.rank[root_a] < self.rank[root_b]:
            root_a, root_b = root_b, root_a
        self.parent[root_b] = root_a
        if self.rank[root_a] == self.rank[root_b]:
            self.rank[root_a] += 1
        self.sets -= 1
        return True

    def connected(self, a, b):
        return self.find(a) == self.find(b)


class PathResult:
    def __init__(self, source, distances, previous):
        self.source = source
        self.distances = distances
        self.previous = previous

    def distance(self, target):
        return self.distances.get(target)

    def path(self, target):
        if target not in self.distances:
            return []
        path = [target]
        while path[-1] != self.source:
            path.append(self.previous[path[-1]])
        path.reverse()
        return path


def dijkstra(graph, source):
    distances = {source: 0}
    previous = {}
    done = set()
    heap = [(0, source)]
    while heap:
        dist, vertex = heapq.heappop(heap)
        if vertex in done:
            continue
        done.add(vertex)
        for neighbour, weight in graph.neighbours(vertex):
            candidate = dist + weight
            if candidate < distances.get(neighbour, float("inf")):
                distances[neighbour] = candidate
                previous[neighbour] = vertex
                heapq.heappush(heap, (candidate, neighbour))
    return PathResult(source, distances, previous)


def bfs_levels(graph, source):
    levels = {source: 0}
    queue = deque([source])
    while queue:
        vertex = queue.popleft()
        for neighbour in graph.successors(vertex):
            if neighbour not in levels:
                levels[neighbour] = levels[vertex] + 1
                queue.append(neighbour)
    return levels


def dfs_order(graph, source):
    seen = set()
    order = []
    stack = [source]
    while stack:
        vertex = stack.pop()
        if vertex in seen:
            continue
        seen.add(vertex)
        order.append(vertex)
        stack.extend(sorted(graph.successors(vertex), reverse=True))
    return order


def topological_sort(graph):
    indegree = {v: 0 for v in graph.vertices()}
    for vertex in graph.vertices():
        for target in graph.successors(vertex):
            indegree[target] += 1
    ready = [v for v, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        vertex = heapq.heappop(ready)
        order.append(vertex)
        for target in graph.successors(vertex):
            indegree[target] -= 1
            if indegree[target] == 0:
                heapq.heappush(ready, target)
    if len(order) != len(graph):
        raise ValueError("graph has a cycle")
    return order


def components(graph):
    uf = UnionFind(graph.vertices())
    for _, a, b in graph.edges():
        uf.union(a, b)
    sizes = {}
    for vertex in graph.vertices():
        root = uf.find(vertex)
        sizes[root] = sizes.get(root, 0) + 1
    return sorted(sizes.values(), reverse=True)


def kruskal(graph):
    uf = UnionFind(graph.vertices())
    total = 0
    used = 0
    for weight, a, b in sorted(graph.edges()):
        if uf.union(a, b):
            total += weight
            used += 1
    return total, used


# --- graph builders ----------------------------------------------------------------------------


def road_grid(rng, width, height):
    """A city grid with random travel times and a few missing blocks."""
    graph = Graph()
    for x in range(width):
        for y in range(height):
            if x + 1 < width and rng.random() > 0.05:
                graph.add_edge((x, y), (x + 1, y), rng.randint(1, 9))
            if y + 1 < height and rng.random() > 0.05:
                graph.add_edge((x, y), (x, y + 1), rng.randint(1, 9))
    return graph


def dependency_dag(rng, packages):
    graph = Graph(directed=True)
    for i in range(packages):
        graph.add_vertex(f"pkg{i:04d}")
        for _ in range(rng.randint(0, 4)):
            if i:
                graph.add_edge(f"pkg{rng.randrange(i):04d}", f"pkg{i:04d}")
    return graph


def sparse_random(rng, vertices, edges):
    graph = Graph()
    for v in range(vertices):
        graph.add_vertex(v)
    for _ in range(edges):
        a, b = rng.randrange(vertices), rng.randrange(vertices)
        if a != b:
            graph.add_edge(a, b, rng.randint(1, 100))
    return graph


def run(scale):
    rng = random.Random(1234)
    rounds = max(1, int(15 * scale))
    route_total = hops = 0
    bfs_total = dfs_total = 0
    for _ in range(rounds):
        grid = road_grid(rng, 40, 40)
        for corner in ((0, 0), (39, 0), (20, 20)):
            if corner not in grid:
                continue
            result = dijkstra(grid, corner)
            route_total += sum(result.distances.values())
            hops += len(result.path((39, 39))) + len(result.path((0, 39)))
            bfs_total += sum(bfs_levels(grid, corner).values())
        dfs_total += sum(x * 40 + y for x, y in dfs_order(grid, (0, 0))[:500])
    topo = 0
    for _ in range(rounds):
        dag = dependency_dag(rng, 1500)
        order = topological_sort(dag)
        topo += sum(i * int(name[3:]) for i, name in enumerate(order[:200])) % 1_000_003
    mst_total = mst_edges = 0
    largest = 0
    for _ in range(rounds):
        graph = sparse_random(rng, 2000, 2600)
        sizes = components(graph)
        largest += sizes[0]
        total, used = kruskal(graph)
        mst_total += total
        mst_edges += used
    return (
        f"routes {route_total} hops {hops} bfs {bfs_total} dfs {dfs_total} topo {topo} "
        f"mst {mst_total}/{mst_edges} largest {largest}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"graph_algorithms: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
