"""Object-oriented kernel: a richards-like cooperative task scheduler and a small expression
language (lexer, recursive-descent parser, AST nodes with ``evaluate`` methods). Many small methods
that call each other through ``self.x()``, properties and polymorphic dispatch.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time

# --- a cooperative scheduler -------------------------------------------------------------------

IDLE, WORKER, HANDLER_A, HANDLER_B, DEVICE_A, DEVICE_B = range(6)
KIND_WORK, KIND_DEVICE = 0, 1
BUFFER_SIZE = 4


class Message:
    __slots__ = ("link", "sender", "kind", "index", "data")

    def __init__(self, link, sender, kind):
        self.link = link
        self.sender = sender
        self.kind = kind
        self.index = 0
        self.data = [0] * BUFFER_SIZE

    def append_to(self, queue):
        self.link = None
        if queue is None:
            return self
        last = queue
        while last.link is not None:
            last = last.link
        last.link = self
        return queue


class TaskState:
    def __init__(self):
        self.message_pending = True
        self.waiting = False
        self.holding = False

    def mark_pending(self):
        self.message_pending = True
        self.waiting = False
        self.holding = False
        return self

    def mark_running(self):
        self.message_pending = self.waiting = self.holding = False
        return self

    def mark_waiting(self):
        self.message_pending = self.holding = False
        self.waiting = True
        return self

    def mark_waiting_with_message(self):
        self.message_pending = self.waiting = True
        self.holding = False
        return self

    def is_holding_or_waiting(self):
        return self.holding or (not self.message_pending and self.waiting)

    def is_waiting_with_message(self):
        return self.message_pending and self.waiting and not self.holding


class Task(TaskState):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__()
        self.scheduler = scheduler
        self.ident = ident
        self.priority = priority
        self.queue = queue
        self.link = scheduler.last_task
        scheduler.last_task = self
        scheduler.tasks[ident] = self
        self.mark_waiting_with_message() if queue is not None else self.mark_waiting()

    def add_message(self, message, current):
        if self.queue is None:
            self.queue = message
            self.message_pending = True
            if self.priority > current.priority:
                return self
        else:
            self.queue = message.append_to(self.queue)
        return current

    def run_task(self):
        if self.is_waiting_with_message():
            message = self.queue
            self.queue = message.link
            if self.queue is None:
                self.mark_running()
            else:
                self.mark_pending()
        else:
            message = None
        return self.step(message)

    def wait(self):
        self.waiting = True
        return self

    def hold(self):
        self.scheduler.hold_count += 1
        self.holding = True
        return self.link

    def release(self, ident):
        task = self.scheduler.find(ident)
        task.holding = False
        if task.priority > self.priority:
            return task
        return self

    def send(self, message):
        self.scheduler.send_count += 1
        target = self.scheduler.find(message.sender)
        message.link = None
        message.sender = self.ident
        return target.add_message(message, self)

    def step(self, message):
        raise NotImplementedError


class IdleTask(Task):
    def __init__(self, scheduler, ident, priority, count):
        super().__init__(scheduler, ident, priority, None)
        self.mark_running()
        self.control = 1
        self.count = count

    def step(self, message):
        self.count -= 1
        if self.count == 0:
            return self.hold()
        if self.control & 1 == 0:
            self.control //= 2
            return self.release(DEVICE_A)
        self.control = (self.control // 2) ^ 0xD008
        return self.release(DEVICE_B)


class WorkerTask(Task):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__(scheduler, ident, priority, queue)
        self.destination = HANDLER_A
        self.counter = 0

    def next_letter(self):
        self.counter += 1
        if self.counter > 26:
            self.counter = 1
        return self.counter

    def step(self, message):
        if message is None:
            return self.wait()
        self.destination = HANDLER_B if self.destination == HANDLER_A else HANDLER_A
        message.sender = self.destination
        message.index = 0
        for i in range(BUFFER_SIZE):
            message.data[i] = self.next_letter()
        return self.send(message)


class HandlerTask(Task):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__(scheduler, ident, priority, queue)
        self.work_queue = None
        self.device_queue = None

    def accept(self, message):
        if message.kind == KIND_WORK:
            self.work_queue = message.append_to(self.work_queue)
        else:
            self.device_queue = message.append_to(self.device_queue)

    def step(self, message):
        if message is not None:
            self.accept(message)
        work = self.work_queue
        if work is None:
            return self.wait()
        if work.index >= BUFFER_SIZE:
            self.work_queue = work.link
            return self.send(work)
        device = self.device_queue
        if device is None:
            return self.wait()
        self.device_queue = device.link
        device.index = work.data[work.index]
        work.index += 1
        return self.send(device)


class DeviceTask(Task):
    def __init__(self, scheduler, ident, priority, queue):
        super().__init__(scheduler, ident, priority, queue)
        self.pending = None

    def step(self, message):
        if message is None:
            if self.pending is None:
                return self.wait()
            message, self.pending = self.pending, None
            return self.send(message)
        self.pending = message
        self.scheduler.output.append(message.index)
        return self.hold()


class Scheduler:
    def __init__(self):
        self.tasks = [None] * 6
        self.last_task = None
        self.hold_count = 0
        self.send_count = 0
        self.output = []

    def find(self, ident):
        return self.tasks[ident]

    def build(self, idle_count):
        IdleTask(self, IDLE, 0, idle_count)
        queue = Message(None, 0, KIND_WORK).append_to(None)
        queue = Message(queue, 0, KIND_WORK)
        WorkerTask(self, WORKER, 1000, queue)
        for handler, device, priority in ((HANDLER_A, DEVICE_A, 2000), (HANDLER_B, DEVICE_B, 3000)):
            queue = Message(None, device, KIND_DEVICE)
            queue = Message(queue, device, KIND_DEVICE)
            queue = Message(queue, device, KIND_DEVICE)
            HandlerTask(self, handler, priority, queue)
        DeviceTask(self, DEVICE_A, 4000, None)
        DeviceTask(self, DEVICE_B, 5000, None)
        return self

    def schedule(self):
        task = self.last_task
        while task is not None:
            if task.is_holding_or_waiting():
                task = task.link
            else:
                task = task.run_task()
        return self.hold_count, self.send_count, sum(self.output) % 1_000_003


# --- a small expression language ---------------------------------------------------------------


class Token:
    __slots__ = ("kind", "text")

    def __init__(self, kind, text):
        self.kind = kind
        self.text = text

    def is_op(self, text):
        return self.kind == "op" and self.text == text


class Lexer:
    def __init__(self, source):
        self.source = source
        self.position = 0

    def at_end(self):
        return self.position >= len(self.source)

    def current(self):
        return self.source[self.position]

    def skip_spaces(self):
        while not self.at_end() and self.current().isspace():
            self.position += 1

    def read_while(self, predicate):
        start = self.position
        while not self.at_end() and predicate(self.current()):
            self.position += 1
        return self.source[start : self.position]

    def tokens(self):
        result = []
        self.skip_spaces()
        while not self.at_end():
            ch = self.current()
            if ch.isdigit():
                result.append(Token("num", self.read_while(str.isdigit)))
            elif ch.isalpha():
                result.append(Token("name", self.read_while(str.isalnum)))
            else:
                self.position += 1
                result.append(Token("op", ch))
            self.skip_spaces()
        result.append(Token("end", ""))
        return result


class Expr:
    def evaluate(self, env):
        raise NotImplementedError

    def size(self):
        return 1


class Number(Expr):
    def __init__(self, value):
        self.value = value

    def evaluate(self, env):
        return self.value


class Variable(Expr):
    def __init__(self, name):
        self.name = name

    def evaluate(self, env):
        return env.lookup(self.name)


class BinaryOp(Expr):
    def __init__(self, op, left, right):
        self.op = op
        self.left = left
        self.right = right

    def size(self):
        return 1 + self.left.size() + self.right.size()

    def evaluate(self, env):
        a = self.left.evaluate(env)
        b = self.right.evaluate(env)
        if self.op == "+":
            return a + b
        if self.op == "-":
            return a - b
        if self.op == "*":
            return a * b
        return a // b if b else 0


class Call(Expr):
    def __init__(self, name, args):
        self.name = name
        self.args = args

    def size(self):
        return 1 + sum(arg.size() for arg in self.args)

    def evaluate(self, env):
        return env.call(self.name, [arg.evaluate(env) for arg in self.args])


class Environment:
    def __init__(self, variables):
        self.variables = variables
        self.functions = {"max": max, "min": min, "abs": abs}

    def lookup(self, name):
        return self.variables.get(name, 0)

    def call(self, name, values):
        return self.functions[name](*values)


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    def peek(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, text):
        token = self.advance()
        if not token.is_op(text):
            raise SyntaxError(f"expected {text!r}, got {token.text!r}")
        return token

    def parse_expression(self):
        node = self.parse_term()
        while self.peek().is_op("+") or self.peek().is_op("-"):
            node = BinaryOp(self.advance().text, node, self.parse_term())
        return node

    def parse_term(self):
        node = self.parse_factor()
        while self.peek().is_op("*") or self.peek().is_op("/"):
            node = BinaryOp(self.advance().text, node, self.parse_factor())
        return node

    def parse_factor(self):
        token = self.advance()
        if token.kind == "num":
            return Number(int(token.text))
        if token.kind == "name":
            if self.peek().is_op("("):
                return self.parse_call(token.text)
            return Variable(token.text)
        if token.is_op("("):
            node = self.parse_expression()
            self.expect(")")
            return node
        if token.is_op("-"):
            return BinaryOp("-", Number(0), self.parse_factor())
        raise SyntaxError(f"unexpected {token.text!r}")

    def parse_call(self, name):
        self.expect("(")
        args = [self.parse_expression()]
        while self.peek().is_op(","):
            self.advance()
            args.append(self.parse_expression())
        self.expect(")")
        return Call(name, args)


SOURCES = [
    "(a + b) * (c - 3) + max(a, b * 2, c) / 2",
    "min(x * x - y, abs(y - 40)) + (x + 1) * (y + 2) * 3 - z",
    "a * b * c - (a + b + c) * 7 + max(min(a, b), c - 5)",
    "((x + y) * (x - y) + z * z) / (1 + abs(x - z))",
]


def run_expressions(rounds):
    trees = [Parser(Lexer(source).tokens()).parse_expression() for source in SOURCES]
    total = 0
    for i in range(rounds):
        env = Environment({"a": i % 17, "b": i % 23, "c": i % 31, "x": i % 13, "y": i % 29, "z": 5})
        for tree in trees:
            total += tree.evaluate(env)
        if i % 50 == 0:
            # re-parse now and then, as an interpreter loading new rules would
            total += sum(Parser(Lexer(s).tokens()).parse_expression().size() for s in SOURCES)
    return total


def run(scale):
    holds = sends = out = 0
    for _ in range(max(1, int(10 * scale))):
        h, s, o = Scheduler().build(8000).schedule()
        holds += h
        sends += s
        out += o
    expressions = run_expressions(max(10, int(16_000 * scale)))
    return f"holds {holds} sends {sends} output {out} expressions {expressions}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"oo_methods: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
