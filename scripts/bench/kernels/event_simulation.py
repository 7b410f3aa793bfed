"""Discrete-event simulation kernel: a bank with tellers and a customer queue, and a building with
elevators answering hall calls, both driven by a ``heapq`` event queue. Events are
``@dataclass(order=True)`` records, entities are plain dataclasses and classes with small methods,
states and directions are ``enum`` members, arrivals come from a seeded ``random.Random``, and
statistics are gathered in small collector objects — the shape of a typical SimPy-free
simulation script.

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
from dataclasses import dataclass, field
from enum import Enum, auto

# --- the simulation core -----------------------------------------------------------------------


@dataclass(order=True)
class Event:
    time: float
    sequence: int
    kind: str = field(compare=False)
    payload: object = field(default=None, compare=False)


class Simulation:
    def __init__(self, seed):
        self.now = 0.0
        self.queue = []
        self.counter = 0
        self.rng = random.Random(seed)
        self.handlers = {}
        self.processed = 0

    def on(self, kind, handler):
        self.handlers[kind] = handler

    def schedule(self, delay, kind, payload=None):
        self.counter += 1
        heapq.heappush(self.queue, Event(self.now + delay, self.counter, kind, payload))

    def step(self):
        event = heapq.heappop(self.queue)
        self.now = event.time
        self.processed += 1
        self.handlers[event.kind](event.payload)

    def run_until(self, end):
        while self.queue and self.queue[0].time <= end:
            self.step()
        self.now = end


@dataclass
class Tally:
    count: int = 0
    total: float = 0.0
    maximum: float = 0.0

    def record(self, value):
        self.count += 1
        self.total += value
        if value > self.maximum:
            self.maximum = value

    @property
    def mean(self):
        return self.total / self.count if self.count else 0.0


# --- a bank ------------------------------------------------------------------------------------


class TellerState(Enum):
    IDLE = auto()
    BUSY = auto()
    ON_BREAK = auto()


class Service(Enum):
    DEPOSIT = 1
    WITHDRAWAL = 2
    LOAN = 3

    @property
    def mean_minutes(self):
        return {Service.DEPOSIT: 2.0, Service.WITHDRAWAL: 3.0, Service.LOAN: 12.0}[self]


@dataclass
class Customer:
    ident: int
    service: Service
    arrived: float
    started: float = -1.0

    def waited(self, now):
        return now - self.arrived


@dataclass
class Teller:
    ident: int
    state: TellerState = TellerState.IDLE
    served: int = 0
    busy_time: float = 0.0
    current: Customer | None = None

    @property
    def is_idle(self):
        return self.state is TellerState.IDLE

    def begin(self, customer, now):
        self.state = TellerState.BUSY
        self.current = customer
        customer.started = now

    def finish(self, duration):
        self.served += 1
        self.busy_time += duration
        self.state = TellerState.IDLE
        customer, self.current = self.current, None
        return customer


class Bank:
    def __init__(self, sim, tellers):
        self.sim = sim
        self.tellers = [Teller(i) for i in range(tellers)]
        self.line = deque()
        self.waits = Tally()
        self.per_service = {service: Tally() for service in Service}
        self.next_id = 0
        self.longest_line = 0
        sim.on("arrival", self.arrival)
        sim.on("departure", self.departure)
        sim.on("break", self.take_break)
        sim.on("back", self.come_back)

    def next_customer(self):
        self.next_id += 1
        service = self.sim.rng.choices(list(Service), weights=(6, 5, 1))[0]
        return Customer(self.next_id, service, self.sim.now)

    def idle_teller(self):
        for teller in self.tellers:
            if teller.is_idle:
                return teller
        return None

    def start_service(self, teller, customer):
        teller.begin(customer, self.sim.now)
        self.waits.record(customer.waited(self.sim.now))
        duration = self.sim.rng.expovariate(1.0 / customer.service.mean_minutes)
        self.sim.schedule(duration, "departure", (teller, duration))

    def arrival(self, _):
        customer = self.next_customer()
        teller = self.idle_teller()
        if teller is None:
            self.line.append(customer)
            self.longest_line = max(self.longest_line, len(self.line))
        else:
            self.start_service(teller, customer)
        self.sim.schedule(self.sim.rng.expovariate(1.0 / 1.1), "arrival")

    def departure(self, payload):
        teller, duration = payload
        customer = teller.finish(duration)
        self.per_service[customer.service].record(self.sim.now - customer.arrived)
        self.serve_next(teller)

    def serve_next(self, teller):
        if teller.is_idle and self.line:
            self.start_service(teller, self.line.popleft())

    def take_break(self, teller_id):
        teller = self.tellers[teller_id]
        if teller.is_idle:
            teller.state = TellerState.ON_BREAK
            self.sim.schedule(15.0, "back", teller_id)
        else:
            self.sim.schedule(5.0, "break", teller_id)

    def come_back(self, teller_id):
        teller = self.tellers[teller_id]
        teller.state = TellerState.IDLE
        self.serve_next(teller)
        self.sim.schedule(120.0, "break", teller_id)

    def report(self):
        served = sum(t.served for t in self.tellers)
        busy = sum(t.busy_time for t in self.tellers)
        by_service = [round(self.per_service[s].mean, 2) for s in Service]
        return served, round(self.waits.mean, 3), round(busy), self.longest_line, by_service


def simulate_bank(seed, minutes):
    sim = Simulation(seed)
    bank = Bank(sim, tellers=4)
    sim.schedule(0.0, "arrival")
    for teller in range(4):
        sim.schedule(60.0 + 20.0 * teller, "break", teller)
    sim.run_until(minutes)
    return bank.report(), sim.processed


# --- elevators ---------------------------------------------------------------------------------


class Direction(Enum):
    UP = 1
    DOWN = -1
    IDLE = 0


@dataclass
class Passenger:
    ident: int
    origin: int
    destination: int
    requested: float
    boarded: float = -1.0

    @property
    def direction(self):
        return Direction.UP if self.destination > self.origin else Direction.DOWN


class Elevator:
    CAPACITY = 8

    def __init__(self, ident, floors):
        self.ident = ident
        self.floor = 0
        self.direction = Direction.IDLE
        self.riders = []
        self.stops = set()
        self.floors = floors
        self.moves = 0

    @property
    def is_full(self):
        return len(self.riders) >= self.CAPACITY

    def distance_to(self, floor):
        return abs(self.floor - floor)

    def add_stop(self, floor):
        self.stops.add(floor)
        if self.direction is Direction.IDLE:
            self.direction = Direction.UP if floor > self.floor else Direction.DOWN

    def unload(self):
        leaving = [p for p in self.riders if p.destination == self.floor]
        self.riders = [p for p in self.riders if p.destination != self.floor]
        return leaving

    def board(self, passenger, now):
        passenger.boarded = now
        self.riders.append(passenger)
        self.add_stop(passenger.destination)

    def has_stops_ahead(self):
        step = self.direction.value
        return any((stop - self.floor) * step > 0 for stop in self.stops)

    def advance(self):
        if self.direction is Direction.IDLE:
            return
        if not self.has_stops_ahead():
            if not self.stops:
                self.direction = Direction.IDLE
                return
            self.direction = Direction.DOWN if self.direction is Direction.UP else Direction.UP
        self.floor += self.direction.value
        self.moves += 1


class Building:
    def __init__(self, sim, floors, elevators):
        self.sim = sim
        self.floors = floors
        self.elevators = [Elevator(i, floors) for i in range(elevators)]
        self.waiting = {floor: [] for floor in range(floors)}
        self.trip_times = Tally()
        self.wait_times = Tally()
        self.next_id = 0
        sim.on("call", self.call)
        sim.on("tick", self.tick)

    def new_passenger(self):
        rng = self.sim.rng
        self.next_id += 1
        if rng.random() < 0.5:
            origin, destination = 0, rng.randrange(1, self.floors)
        else:
            origin = rng.randrange(1, self.floors)
            destination = 0 if rng.random() < 0.7 else rng.randrange(self.floors)
            if destination == origin:
                destination = 0
        return Passenger(self.next_id, origin, destination, self.sim.now)

    def choose_elevator(self, passenger):
        def cost(elevator):
            penalty = 0 if elevator.direction in (Direction.IDLE, passenger.direction) else 10
            return (elevator.distance_to(passenger.origin) + penalty, elevator.ident)

        return min(self.elevators, key=cost)

    def call(self, _):
        passenger = self.new_passenger()
        self.waiting[passenger.origin].append(passenger)
        self.choose_elevator(passenger).add_stop(passenger.origin)
        self.sim.schedule(self.sim.rng.expovariate(1.0 / 6.0), "call")

    def service_floor(self, elevator):
        for passenger in elevator.unload():
            self.trip_times.record(self.sim.now - passenger.requested)
        queue = self.waiting[elevator.floor]
        staying = []
        for passenger in queue:
            if elevator.is_full:
                staying.append(passenger)
            else:
                self.wait_times.record(self.sim.now - passenger.requested)
                elevator.board(passenger, self.sim.now)
        self.waiting[elevator.floor] = staying
        if staying:
            elevator.add_stop(elevator.floor)
        else:
            elevator.stops.discard(elevator.floor)

    def tick(self, _):
        for elevator in self.elevators:
            if elevator.floor in elevator.stops:
                self.service_floor(elevator)
            elevator.advance()
        self.sim.schedule(1.0, "tick")

    def report(self):
        moves = sum(e.moves for e in self.elevators)
        stranded = sum(len(q) for q in self.waiting.values())
        return (
            self.trip_times.count,
            round(self.trip_times.mean, 3),
            round(self.wait_times.mean, 3),
            moves,
            stranded,
        )


def simulate_building(seed, seconds):
    sim = Simulation(seed)
    building = Building(sim, floors=12, elevators=3)
    sim.schedule(0.0, "call")
    sim.schedule(0.0, "tick")
    sim.run_until(seconds)
    return building.report(), sim.processed


def run(scale):
    bank_lines = []
    events = 0
    for day in range(max(1, int(50 * scale))):
        report, processed = simulate_bank(1234 + day, 480.0)
        bank_lines.append(report)
        events += processed
    building_lines = []
    for hour in range(max(1, int(26 * scale))):
        report, processed = simulate_building(4321 + hour, 3600.0)
        building_lines.append(report)
        events += processed
    served = sum(line[0] for line in bank_lines)
    waits = round(sum(line[1] for line in bank_lines), 3)
    longest = max(line[3] for line in bank_lines)
    trips = sum(line[0] for line in building_lines)
    trip_mean = round(sum(line[1] for line in building_lines), 3)
    moves = sum(line[3] for line in building_lines)
    return (
        f"events {events} served {served} waits {waits} longest {longest} "
        f"trips {trips} trip_mean {trip_mean} moves {moves}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"event_simulation: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
