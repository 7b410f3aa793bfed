"""Numeric kernel: an n-body simulation of the outer planets and a logistic regression fitted by
gradient descent. Float arithmetic in tight loops, with some ``math`` calls as real code has them.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import math
import os
import sys
import time

PI = math.pi
SOLAR_MASS = 4 * PI * PI
DAYS_PER_YEAR = 365.24


def make_bodies():
    """Sun, Jupiter, Saturn, Uranus, Neptune: ([x, y, z], [vx, vy, vz], mass)."""
    return [
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], SOLAR_MASS),
        (
            [4.84143144246472090e00, -1.16032004402742839e00, -1.03622044471123109e-01],
            [
                1.66007664274403694e-03 * DAYS_PER_YEAR,
                7.69901118419740425e-03 * DAYS_PER_YEAR,
                -6.90460016972063023e-05 * DAYS_PER_YEAR,
            ],
            9.54791938424326609e-04 * SOLAR_MASS,
        ),
        (
            [8.34336671824457987e00, 4.12479856412430479e00, -4.03523417114321381e-01],
            [
                -2.76742510726862411e-03 * DAYS_PER_YEAR,
                4.99852801234917238e-03 * DAYS_PER_YEAR,
                2.30417297573763929e-05 * DAYS_PER_YEAR,
            ],
            2.85885980666130812e-04 * SOLAR_MASS,
        ),
        (
            [1.28943695621391310e01, -1.51111514016986312e01, -2.23307578892655734e-01],
            [
                2.96460137564761618e-03 * DAYS_PER_YEAR,
                2.37847173959480950e-03 * DAYS_PER_YEAR,
                -2.96589568540237556e-05 * DAYS_PER_YEAR,
            ],
            4.36624404335156298e-05 * SOLAR_MASS,
        ),
        (
            [1.53796971148509165e01, -2.59193146099879641e01, 1.79258772950371181e-01],
            [
                2.68067772490389322e-03 * DAYS_PER_YEAR,
                1.62824170038242295e-03 * DAYS_PER_YEAR,
                -9.51592254519715870e-05 * DAYS_PER_YEAR,
            ],
            5.15138902046611451e-05 * SOLAR_MASS,
        ),
    ]


def body_pairs(bodies):
    pairs = []
    for i in range(len(bodies)):
        for j in range(i + 1, len(bodies)):
            pairs.append((bodies[i], bodies[j]))
    return pairs


def offset_momentum(bodies, ref):
    px = py = pz = 0.0
    for _, (vx, vy, vz), mass in bodies:
        px -= vx * mass
        py -= vy * mass
        pz -= vz * mass
    v = ref[1]
    v[0] = px / ref[2]
    v[1] = py / ref[2]
    v[2] = pz / ref[2]


def advance(dt, steps, bodies, pairs):
    for _ in range(steps):
        for ([x1, y1, z1], v1, m1), ([x2, y2, z2], v2, m2) in pairs:
            dx = x1 - x2
            dy = y1 - y2
            dz = z1 - z2
            mag = dt * ((dx * dx + dy * dy + dz * dz) ** -1.5)
            b1m = m1 * mag
            b2m = m2 * mag
            v1[0] -= dx * b2m
            v1[1] -= dy * b2m
            v1[2] -= dz * b2m
            v2[0] += dx * b1m
            v2[1] += dy * b1m
            v2[2] += dz * b1m
        for r, (vx, vy, vz), _ in bodies:
            r[0] += dt * vx
            r[1] += dt * vy
            r[2] += dt * vz


def energy(bodies, pairs):
    e = 0.0
    for ([x1, y1, z1], _, m1), ([x2, y2, z2], _, m2) in pairs:
        distance = math.sqrt((x1 - x2) ** 2 + (y1 - y2) ** 2 + (z1 - z2) ** 2)
        e -= (m1 * m2) / distance
    for _, (vx, vy, vz), m in bodies:
        e += m * (vx * vx + vy * vy + vz * vz) / 2.0
    return e


def nbody(steps):
    bodies = make_bodies()
    pairs = body_pairs(bodies)
    offset_momentum(bodies, bodies[0])
    before = energy(bodies, pairs)
    advance(0.01, steps, bodies, pairs)
    return before, energy(bodies, pairs)


def lcg(seed):
    """A tiny deterministic pseudo-random stream in [0, 1)."""
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield (state >> 11) / float(1 << 53)


def make_dataset(n, features, seed=7):
    stream = lcg(seed)
    true_w = [(i % 5 - 2) * 0.7 for i in range(features)]
    xs, ys = [], []
    for _ in range(n):
        x = [next(stream) * 2.0 - 1.0 for _ in range(features)]
        z = sum(w * v for w, v in zip(true_w, x, strict=True))
        ys.append(1.0 if z + (next(stream) - 0.5) * 0.5 > 0 else 0.0)
        xs.append(x)
    return xs, ys


def sigmoid(z):
    if z < -30.0:
        return 0.0
    return 1.0 / (1.0 + math.exp(-z))


def fit_logistic(xs, ys, epochs, rate=0.5):
    features = len(xs[0])
    weights = [0.0] * features
    bias = 0.0
    n = len(xs)
    loss = 0.0
    for _ in range(epochs):
        grad = [0.0] * features
        grad_b = 0.0
        loss = 0.0
        for x, y in zip(xs, ys, strict=True):
            z = bias
            for j in range(features):
                z += weights[j] * x[j]
            p = sigmoid(z)
            err = p - y
            for j in range(features):
                grad[j] += err * x[j]
            grad_b += err
            loss -= math.log(p + 1e-12) if y else math.log(1.0 - p + 1e-12)
        for j in range(features):
            weights[j] -= rate * grad[j] / n
        bias -= rate * grad_b / n
    return weights, bias, loss / n


def run(scale):
    before, after = nbody(max(10, int(60_000 * scale)))
    xs, ys = make_dataset(max(10, int(2_000 * scale)), 8)
    weights, bias, loss = fit_logistic(xs, ys, 60)
    norm = math.sqrt(sum(w * w for w in weights))
    return (
        f"energy {before:.9f} -> {after:.9f}; logistic loss {loss:.9f} |w| {norm:.9f} b {bias:.9f}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"numeric: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
