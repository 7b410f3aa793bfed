"""Interpreter kernel: a tree-walking interpreter for a small imperative toy language — a
``Tokenizer`` class, a recursive-descent ``Parser`` building AST node classes, and an
``Interpreter`` that walks the tree through the visitor pattern (``node.accept(visitor)`` calling
``visitor.visit_<Kind>`` found with ``getattr``), with lexical scopes, functions, recursion,
``while`` loops and lists. Also a constant-folding visitor and a pretty-printer over the same
trees, as a toy compiler would have.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import os
import sys
import time

# --- tokens ------------------------------------------------------------------------------------

KEYWORDS = {"fn", "let", "if", "else", "while", "return", "print"}
TWO_CHAR = {"==", "!=", "<=", ">=", "&&", "||"}


class Token:
    __slots__ = ("kind", "text", "line")

    def __init__(self, kind, text, line):
        self.kind = kind
        self.text = text
        self.line = line

    def __repr__(self):
        return f"Token({self.kind}, {self.text!r}, line {self.line})"

    def matches(self, kind, text=None):
        return self.kind == kind and (text is None or self.text == text)


class Tokenizer:
    def __init__(self, source):
        self.source = source
        self.pos = 0
        self.line = 1

    def peek_char(self, offset=0):
        index = self.pos + offset
        return self.source[index] if index < len(self.source) else ""

    def skip_whitespace_and_comments(self):
        while True:
            ch = self.peek_char()
            if ch == "\n":
                self.line += 1
                self.pos += 1
            elif ch.isspace():
                self.pos += 1
            elif ch == "#":
                while self.peek_char() not in ("\n", ""):
                    self.pos += 1
            else:
                return

    def take_while(self, predicate):
        start = self.pos
        while self.peek_char() and predicate(self.peek_char()):
            self.pos += 1
        return self.source[start : self.pos]

    def next_token(self):
        self.skip_whitespace_and_comments()
        ch = self.peek_char()
        if not ch:
            return Token("eof", "", self.line)
        if ch.isdigit():
            return Token("number", self.take_while(str.isdigit), self.line)
        if ch.isalpha() or ch == "_":
            word = self.take_while(lambda c: c.isalnum() or c == "_")
            return Token("keyword" if word in KEYWORDS else "name", word, self.line)
        if ch == '"':
            self.pos += 1
            text = self.take_while(lambda c: c != '"')
            self.pos += 1
            return Token("string", text, self.line)
        pair = ch + self.peek_char(1)
        if pair in TWO_CHAR:
            self.pos += 2
            return Token("op", pair, self.line)
        self.pos += 1
        return Token("op", ch, self.line)

    def tokens(self):
        result = []
        while True:
            token = self.next_token()
            result.append(token)
            if token.kind == "eof":
                return result


# --- the syntax tree ---------------------------------------------------------------------------


class Node:
    fields = ()

    def __init__(self, *values):
        for name, value in zip(self.fields, values, strict=True):
            setattr(self, name, value)

    def accept(self, visitor):
        return getattr(visitor, "visit_" + type(self).__name__)(self)

    def children(self):
        for name in self.fields:
            value = getattr(self, name)
            if isinstance(value, Node):
                yield value
            elif isinstance(value, list):
                yield from (item for item in value if isinstance(item, Node))


class Num(Node):
    fields = ("value",)


class Str(Node):
    fields = ("value",)


class Name(Node):
    fields = ("name",)


class ListLit(Node):
    fields = ("items",)


class Index(Node):
    fields = ("target", "index")


class Unary(Node):
    fields = ("op", "operand")


class Binary(Node):
    fields = ("op", "left", "right")


class CallExpr(Node):
    fields = ("callee", "args")


class Let(Node):
    fields = ("name", "value")


class Assign(Node):
    fields = ("name", "value")


class SetIndex(Node):
    fields = ("target", "index", "value")


class ExprStmt(Node):
    fields = ("expr",)


class Print(Node):
    fields = ("expr",)


class If(Node):
    fields = ("condition", "then", "otherwise")


class While(Node):
    fields = ("condition", "body")


class Return(Node):
    fields = ("value",)


class Block(Node):
    fields = ("statements",)


class FunctionDef(Node):
    fields = ("name", "params", "body")


class Program(Node):
    fields = ("statements",)


# --- the parser --------------------------------------------------------------------------------

PRECEDENCE = [
    ("||",),
    ("&&",),
    ("==", "!="),
    ("<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/", "%"),
]


class ParseError(Exception):
    pass


class Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.index = 0

    @property
    def current(self):
        return self.tokens[self.index]

    def advance(self):
        token = self.current
        self.index += 1
        return token

    def check(self, kind, text=None):
        return self.current.matches(kind, text)

    def accept_op(self, text):
        if self.check("op", text):
            return self.advance()
        return None

    def expect(self, kind, text=None):
        if not self.check(kind, text):
            raise ParseError(f"expected {text or kind}, got {self.current!r}")
        return self.advance()

    def parse_program(self):
        statements = []
        while not self.check("eof"):
            statements.append(self.parse_statement())
        return Program(statements)

    def parse_block(self):
        self.expect("op", "{")
        statements = []
        while not self.check("op", "}"):
            statements.append(self.parse_statement())
        self.expect("op", "}")
        return Block(statements)

    def parse_statement(self):
        token = self.current
        if token.kind == "keyword":
            method = getattr(self, "parse_" + token.text)
            self.advance()
            return method()
        expr = self.parse_expression()
        if self.accept_op("="):
            value = self.parse_expression()
            self.expect("op", ";")
            if isinstance(expr, Index):
                return SetIndex(expr.target, expr.index, value)
            return Assign(expr.name, value)
        self.expect("op", ";")
        return ExprStmt(expr)

    def parse_fn(self):
        name = self.expect("name").text
        self.expect("op", "(")
        params = []
        while not self.check("op", ")"):
            params.append(self.expect("name").text)
            self.accept_op(",")
        self.expect("op", ")")
        return FunctionDef(name, params, self.parse_block())

    def parse_let(self):
        name = self.expect("name").text
        self.expect("op", "=")
        value = self.parse_expression()
        self.expect("op", ";")
        return Let(name, value)

    def parse_if(self):
        condition = self.parse_expression()
        then = self.parse_block()
        otherwise = None
        if self.check("keyword", "else"):
            self.advance()
            otherwise = self.parse_block()
        return If(condition, then, otherwise)

    def parse_while(self):
        return While(self.parse_expression(), self.parse_block())

    def parse_return(self):
        value = self.parse_expression()
        self.expect("op", ";")
        return Return(value)

    def parse_print(self):
        value = self.parse_expression()
        self.expect("op", ";")
        return Print(value)

    def parse_expression(self, level=0):
        if level == len(PRECEDENCE):
            return self.parse_unary()
        node = self.parse_expression(level + 1)
        while self.check("op") and self.current.text in PRECEDENCE[level]:
            op = self.advance().text
            node = Binary(op, node, self.parse_expression(level + 1))
        return node

    def parse_unary(self):
        if self.check("op", "-") or self.check("op", "!"):
            op = self.advance().text
            return Unary(op, self.parse_unary())
        return self.parse_postfix()

    def parse_postfix(self):
        node = self.parse_primary()
        while True:
            if self.accept_op("("):
                args = []
                while not self.check("op", ")"):
                    args.append(self.parse_expression())
                    self.accept_op(",")
                self.expect("op", ")")
                node = CallExpr(node, args)
            elif self.accept_op("["):
                node = Index(node, self.parse_expression())
                self.expect("op", "]")
            else:
                return node

    def parse_primary(self):
        token = self.advance()
        if token.kind == "number":
            return Num(int(token.text))
        if token.kind == "string":
            return Str(token.text)
        if token.kind == "name":
            return Name(token.text)
        if token.matches("op", "("):
            node = self.parse_expression()
            self.expect("op", ")")
            return node
        if token.matches("op", "["):
            items = []
            while not self.check("op", "]"):
                items.append(self.parse_expression())
                self.accept_op(",")
            self.expect("op", "]")
            return ListLit(items)
        raise ParseError(f"unexpected {token!r}")


# --- visitors ----------------------------------------------------------------------------------


class Visitor:
    def visit(self, node):
        return node.accept(self)

    def generic_visit(self, node):
        for child in node.children():
            self.visit(child)


class NodeCounter(Visitor):
    def __init__(self):
        self.counts = {}

    def visit(self, node):
        kind = type(node).__name__
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.generic_visit(node)


class ConstantFolder(Visitor):
    """Rewrites ``Binary`` nodes over two literal numbers into a literal, in place."""

    def __init__(self):
        self.folded = 0

    def fold(self, node):
        for name in node.fields:
            value = getattr(node, name)
            if isinstance(value, Node):
                setattr(node, name, self.fold(value))
            elif isinstance(value, list):
                setattr(node, name, [self.fold(v) if isinstance(v, Node) else v for v in value])
        return self.simplify(node)

    def simplify(self, node):
        if isinstance(node, Binary) and isinstance(node.left, Num) and isinstance(node.right, Num):
            if node.op in ("+", "-", "*"):
                self.folded += 1
                return Num(BINARY_OPS[node.op](node.left.value, node.right.value))
        return node


class PrettyPrinter(Visitor):
    def visit_Num(self, node):
        return str(node.value)

    def visit_Str(self, node):
        return f'"{node.value}"'

    def visit_Name(self, node):
        return node.name

    def visit_ListLit(self, node):
        return "[" + ", ".join(self.visit(item) for item in node.items) + "]"

    def visit_Index(self, node):
        return f"{self.visit(node.target)}[{self.visit(node.index)}]"

    def visit_Unary(self, node):
        return f"{node.op}{self.visit(node.operand)}"

    def visit_Binary(self, node):
        return f"({self.visit(node.left)} {node.op} {self.visit(node.right)})"

    def visit_CallExpr(self, node):
        return f"{self.visit(node.callee)}({', '.join(self.visit(a) for a in node.args)})"

    def visit_Let(self, node):
        return f"let {node.name} = {self.visit(node.value)};"

    def visit_Assign(self, node):
        return f"{node.name} = {self.visit(node.value)};"

    def visit_SetIndex(self, node):
        return f"{self.visit(node.target)}[{self.visit(node.index)}] = {self.visit(node.value)};"

    def visit_ExprStmt(self, node):
        return self.visit(node.expr) + ";"

    def visit_Print(self, node):
        return f"print {self.visit(node.expr)};"

    def visit_If(self, node):
        text = f"if {self.visit(node.condition)} {self.visit(node.then)}"
        if node.otherwise is not None:
            text += f" else {self.visit(node.otherwise)}"
        return text

    def visit_While(self, node):
        return f"while {self.visit(node.condition)} {self.visit(node.body)}"

    def visit_Return(self, node):
        return f"return {self.visit(node.value)};"

    def visit_Block(self, node):
        return "{ " + " ".join(self.visit(s) for s in node.statements) + " }"

    def visit_FunctionDef(self, node):
        return f"fn {node.name}({', '.join(node.params)}) {self.visit(node.body)}"

    def visit_Program(self, node):
        return "\n".join(self.visit(s) for s in node.statements)


# --- the evaluator -----------------------------------------------------------------------------

BINARY_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a // b,
    "%": lambda a, b: a % b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class ReturnSignal(Exception):
    def __init__(self, value):
        super().__init__()
        self.value = value


class RuntimeFault(Exception):
    pass


class Scope:
    def __init__(self, parent=None):
        self.values = {}
        self.parent = parent

    def define(self, name, value):
        self.values[name] = value

    def find(self, name):
        scope = self
        while scope is not None:
            if name in scope.values:
                return scope
            scope = scope.parent
        raise RuntimeFault(f"undefined name {name!r}")

    def get(self, name):
        return self.find(name).values[name]

    def set(self, name, value):
        self.find(name).values[name] = value


class Function:
    def __init__(self, definition, closure):
        self.definition = definition
        self.closure = closure

    @property
    def arity(self):
        return len(self.definition.params)

    def call(self, interpreter, args):
        if len(args) != self.arity:
            raise RuntimeFault(f"{self.definition.name} takes {self.arity} arguments")
        scope = Scope(self.closure)
        for name, value in zip(self.definition.params, args, strict=True):
            scope.define(name, value)
        try:
            interpreter.execute_block(self.definition.body.statements, scope)
        except ReturnSignal as signal:
            return signal.value
        return None


class Builtin:
    def __init__(self, name, function):
        self.name = name
        self.function = function

    def call(self, interpreter, args):
        return self.function(*args)


class Interpreter(Visitor):
    def __init__(self):
        self.globals = Scope()
        self.scope = self.globals
        self.output = []
        self.steps = 0
        for name, function in (("len", len), ("push", list.append), ("abs", abs)):
            self.globals.define(name, Builtin(name, function))

    def execute_block(self, statements, scope):
        previous, self.scope = self.scope, scope
        try:
            for statement in statements:
                statement.accept(self)
        finally:
            self.scope = previous

    def visit_Program(self, node):
        for statement in node.statements:
            statement.accept(self)
        return self.output

    def visit_Block(self, node):
        self.execute_block(node.statements, Scope(self.scope))

    def visit_FunctionDef(self, node):
        self.scope.define(node.name, Function(node, self.scope))

    def visit_Let(self, node):
        self.scope.define(node.name, node.value.accept(self))

    def visit_Assign(self, node):
        self.scope.set(node.name, node.value.accept(self))

    def visit_SetIndex(self, node):
        target = node.target.accept(self)
        target[node.index.accept(self)] = node.value.accept(self)

    def visit_ExprStmt(self, node):
        node.expr.accept(self)

    def visit_Print(self, node):
        self.output.append(node.expr.accept(self))

    def visit_If(self, node):
        if self.truthy(node.condition.accept(self)):
            node.then.accept(self)
        elif node.otherwise is not None:
            node.otherwise.accept(self)

    def visit_While(self, node):
        while self.truthy(node.condition.accept(self)):
            self.steps += 1
            node.body.accept(self)

    def visit_Return(self, node):
        raise ReturnSignal(node.value.accept(self))

    def visit_Num(self, node):
        return node.value

    def visit_Str(self, node):
        return node.value

    def visit_Name(self, node):
        return self.scope.get(node.name)

    def visit_ListLit(self, node):
        return [item.accept(self) for item in node.items]

    def visit_Index(self, node):
        return node.target.accept(self)[node.index.accept(self)]

    def visit_Unary(self, node):
        value = node.operand.accept(self)
        return -value if node.op == "-" else not self.truthy(value)

    def visit_Binary(self, node):
        if node.op == "&&":
            return self.truthy(node.left.accept(self)) and self.truthy(node.right.accept(self))
        if node.op == "||":
            return self.truthy(node.left.accept(self)) or self.truthy(node.right.accept(self))
        return BINARY_OPS[node.op](node.left.accept(self), node.right.accept(self))

    def visit_CallExpr(self, node):
        callee = node.callee.accept(self)
        args = [arg.accept(self) for arg in node.args]
        self.steps += 1
        return callee.call(self, args)

    @staticmethod
    def truthy(value):
        return value is not False and value is not None and value != 0


PROGRAM = """
# a few classic routines, the way a toy-language test suite would write them
fn fib(n) {
    if n < 2 { return n; }
    return fib(n - 1) + fib(n - 2);
}

fn gcd(a, b) {
    while b != 0 {
        let t = b;
        b = a % b;
        a = t;
    }
    return a;
}

fn sieve(limit) {
    let flags = [];
    let i = 0;
    while i <= limit { push(flags, 1); i = i + 1; }
    flags[0] = 0;
    flags[1] = 0;
    let p = 2;
    while p * p <= limit {
        if flags[p] == 1 {
            let m = p * p;
            while m <= limit { flags[m] = 0; m = m + p; }
        }
        p = p + 1;
    }
    let count = 0;
    i = 0;
    while i <= limit { count = count + flags[i]; i = i + 1; }
    return count;
}

fn bubble(items) {
    let n = len(items);
    let swapped = 1;
    while swapped {
        swapped = 0;
        let i = 1;
        while i < n {
            if items[i - 1] > items[i] {
                let t = items[i];
                items[i] = items[i - 1];
                items[i - 1] = t;
                swapped = 1;
            }
            i = i + 1;
        }
        n = n - 1;
    }
    return items;
}

fn make_counter(start) {
    let count = start;
    fn next() { count = count + 1; return count; }
    return next;
}

let seed = SEED;
fn rand() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % 1000; }

print fib(FIB);
print gcd(1071 * SEED, 462 + 2 * 3);
print sieve(LIMIT);
let data = [];
let k = 0;
while k < 40 { push(data, rand()); k = k + 1; }
let sorted = bubble(data);
print sorted[0] + sorted[39] * 1000;
let counter = make_counter(SEED);
let total = 0;
while counter() < SEED + 50 && !(total > 100000) { total = total + counter() * (3 - 1); }
print total;
print "done";
"""


def compile_program(seed, fib_n, limit):
    source = PROGRAM.replace("SEED", str(seed)).replace("FIB", str(fib_n))
    source = source.replace("LIMIT", str(limit))
    tree = Parser(Tokenizer(source).tokens()).parse_program()
    folder = ConstantFolder()
    tree = folder.fold(tree)
    return tree, folder.folded


def run(scale):
    results = []
    steps = 0
    folded = 0
    text_size = 0
    counts = {}
    for i in range(max(1, int(20 * scale))):
        tree, n_folded = compile_program(7 + i, 12 + i % 4, 300 + 25 * i)
        folded += n_folded
        text_size += len(PrettyPrinter().visit(tree))
        counter = NodeCounter()
        counter.visit(tree)
        for kind, n in counter.counts.items():
            counts[kind] = counts.get(kind, 0) + n
        interpreter = Interpreter()
        results.extend(tree.accept(interpreter))
        steps += interpreter.steps
    numbers = sum(r for r in results if isinstance(r, int))
    kinds = ",".join(f"{k}={counts[k]}" for k in sorted(counts)[:4])
    return (
        f"outputs {len(results)} sum {numbers} steps {steps} folded {folded} "
        f"printed {text_size} nodes {kinds}"
    )


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"interpreter: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
