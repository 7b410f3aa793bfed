"""ORM-like kernel: a miniature active-record layer of the kind every web framework grows — a
``Field`` descriptor hierarchy with validation and type coercion, a ``Model`` base class with a
metaclass-free ``__init_subclass__`` registry, ``__getattr__``/``__setattr__`` hooks tracking dirty
fields, properties, ``__eq__``/``__hash__``/``__repr__``, class methods and static methods,
subclasses calling ``super()``, and an immutable query builder whose chained
``Query(...).filter(...).exclude(...).order_by(...).limit(...)`` calls each return a new object,
evaluated against an in-memory table with lookups such as ``age__gte``.

Plain Python, no durable-python imports. Size scales with $DP_BENCH_SCALE (default 1). Prints a
checksum line on stdout, and the work loop's wall and CPU seconds on stderr for
scripts/bench/overhead.py.
"""

import operator
import os
import random
import sys
import time

# --- fields ------------------------------------------------------------------------------------


class ValidationError(ValueError):
    pass


class Field:
    def __init__(self, default=None, null=False):
        self.default = default
        self.null = null
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return instance._data.get(self.name, self.get_default())

    def __set__(self, instance, value):
        value = self.clean(value)
        if instance._data.get(self.name) != value:
            instance._data[self.name] = value
            instance._dirty.add(self.name)

    def get_default(self):
        return self.default() if callable(self.default) else self.default

    def clean(self, value):
        if value is None:
            if not self.null:
                raise ValidationError(f"{self.name} may not be null")
            return None
        return self.coerce(value)

    def coerce(self, value):
        return value


class IntegerField(Field):
    def __init__(self, minimum=None, **kwargs):
        super().__init__(**kwargs)
        self.minimum = minimum

    def coerce(self, value):
        value = int(value)
        if self.minimum is not None and value < self.minimum:
            raise ValidationError(f"{self.name} must be >= {self.minimum}")
        return value


class CharField(Field):
    def __init__(self, max_length=255, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length

    def coerce(self, value):
        value = str(value).strip()
        if len(value) > self.max_length:
            raise ValidationError(f"{self.name} is longer than {self.max_length}")
        return value


class EmailField(CharField):
    def coerce(self, value):
        value = super().coerce(value).lower()
        if "@" not in value:
            raise ValidationError(f"{value!r} is not an email address")
        return value


class BooleanField(Field):
    TRUE = {"1", "true", "yes", "on"}

    def coerce(self, value):
        if isinstance(value, str):
            return value.lower() in self.TRUE
        return bool(value)


class ForeignKey(IntegerField):
    def __init__(self, target, **kwargs):
        super().__init__(minimum=1, **kwargs)
        self.target = target


# --- storage and queries -----------------------------------------------------------------------


class Table:
    clock = 0

    def __init__(self, model):
        self.model = model
        self.rows = {}
        self.next_id = 1

    @classmethod
    def tick(cls):
        cls.clock += 1
        return cls.clock

    def store(self, instance):
        if instance.id is None:
            instance.id = self.next_id
            self.next_id += 1
        self.rows[instance.id] = instance

    def get(self, pk):
        try:
            return self.rows[pk]
        except KeyError:
            raise LookupError(f"{self.model.__name__} {pk} does not exist") from None

    def all(self):
        return Query(self.model)

    def filter(self, **conditions):
        return self.all().filter(**conditions)

    def __iter__(self):
        return iter(self.rows.values())


OPERATORS = {
    "exact": lambda a, b: a == b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "in": lambda a, b: a in b,
    "contains": lambda a, b: b in a,
    "icontains": lambda a, b: b.lower() in a.lower(),
    "startswith": lambda a, b: a.startswith(b),
}


class Condition:
    def __init__(self, key, value, negate=False):
        self.name, self.op = Model.split_lookup(key)
        self.value = value
        self.negate = negate

    def matches(self, instance):
        result = OPERATORS[self.op](getattr(instance, self.name), self.value)
        return not result if self.negate else result

    def __repr__(self):
        return f"{'NOT ' if self.negate else ''}{self.name} {self.op} {self.value!r}"


class Query:
    def __init__(self, model, conditions=(), ordering=(), bounds=(0, None)):
        self.model = model
        self.conditions = tuple(conditions)
        self.ordering = tuple(ordering)
        self.bounds = bounds

    def clone(self, **changes):
        values = {
            "conditions": self.conditions,
            "ordering": self.ordering,
            "bounds": self.bounds,
        }
        values.update(changes)
        return type(self)(self.model, **values)

    def filter(self, **conditions):
        extra = tuple(Condition(k, v) for k, v in sorted(conditions.items()))
        return self.clone(conditions=self.conditions + extra)

    def exclude(self, **conditions):
        extra = tuple(Condition(k, v, negate=True) for k, v in sorted(conditions.items()))
        return self.clone(conditions=self.conditions + extra)

    def order_by(self, *fields):
        return self.clone(ordering=fields)

    def limit(self, count, offset=0):
        return self.clone(bounds=(offset, offset + count))

    def matches(self, instance):
        return all(condition.matches(instance) for condition in self.conditions)

    def sort_key(self, name):
        return name.lstrip("-")

    def evaluate(self):
        rows = [row for row in self.model.objects if self.matches(row)]
        for name in reversed(self.ordering):
            key = operator.attrgetter(self.sort_key(name))
            rows.sort(key=key, reverse=name.startswith("-"))
        start, end = self.bounds
        return rows[start:end]

    def __iter__(self):
        return iter(self.evaluate())

    def __len__(self):
        return len(self.evaluate())

    def first(self):
        rows = self.limit(1).evaluate()
        return rows[0] if rows else None

    def values_list(self, *names):
        return [tuple(getattr(row, n) for n in names) for row in self]

    def aggregate(self, name, function=sum):
        return function(getattr(row, name) for row in self)

    def update(self, **values):
        changed = 0
        for row in self:
            for name, value in values.items():
                setattr(row, name, value)
            if row.is_dirty:
                row.save()
                changed += 1
        return changed

    def __repr__(self):
        return f"<Query {self.model.__name__} where {list(self.conditions)} order {self.ordering}>"


# --- models ------------------------------------------------------------------------------------


class Model:
    registry = {}
    id = IntegerField(minimum=1, null=True)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Model.registry[cls.__name__.lower()] = cls
        cls.objects = Table(cls)
        fields = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Field):
                    fields[name] = value
        cls._fields = fields

    def __init__(self, **values):
        object.__setattr__(self, "_data", {})
        object.__setattr__(self, "_dirty", set())
        for name, value in values.items():
            setattr(self, name, value)

    def __setattr__(self, name, value):
        if name not in self._fields and not name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails: follow foreign keys as `author_obj` and so on
        if name.endswith("_obj"):
            field = self._fields.get(name[:-4])
            if isinstance(field, ForeignKey):
                return Model.registry[field.target].objects.get(getattr(self, field.name))
        raise AttributeError(name)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self.pk is not None and self.pk == other.pk

    def __hash__(self):
        return hash((type(self).__name__, self.pk))

    def __repr__(self):
        return f"<{type(self).__name__} {self.pk}: {self}>"

    def __str__(self):
        return str(self.pk)

    @property
    def pk(self):
        return self.id

    @property
    def is_dirty(self):
        return bool(self._dirty)

    @classmethod
    def create(cls, **values):
        instance = cls(**values)
        instance.save()
        return instance

    @classmethod
    def field_names(cls):
        return list(cls._fields)

    @staticmethod
    def split_lookup(key):
        name, _, op = key.partition("__")
        return name, op or "exact"

    def to_dict(self):
        return {name: getattr(self, name) for name in self._fields}

    def validate(self):
        pass

    def save(self):
        self.validate()
        type(self).objects.store(self)
        self._dirty.clear()
        return self


class TimestampedModel(Model):
    created = IntegerField(default=0)
    updated = IntegerField(default=0)

    def save(self):
        clock = Table.tick()
        if not self.created:
            self.created = clock
        self.updated = clock
        return super().save()


class Author(TimestampedModel):
    name = CharField(max_length=60)
    email = EmailField()
    active = BooleanField(default=True)
    karma = IntegerField(default=0)

    def __str__(self):
        return self.name

    @property
    def handle(self):
        return self.email.partition("@")[0]

    def validate(self):
        super().validate()
        if not self.name:
            raise ValidationError("author needs a name")


class Post(TimestampedModel):
    author = ForeignKey("author")
    title = CharField(max_length=120)
    words = IntegerField(minimum=0, default=0)
    published = BooleanField(default=False)
    score = IntegerField(default=0)

    def __str__(self):
        return self.title

    @property
    def reading_minutes(self):
        return max(1, self.words // 200)

    def publish(self):
        self.published = True
        return self.save()


class Comment(TimestampedModel):
    post = ForeignKey("post")
    author = ForeignKey("author")
    body = CharField(max_length=500)
    likes = IntegerField(minimum=0, default=0)

    def __str__(self):
        return self.body[:20]


# --- the workload ------------------------------------------------------------------------------

FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Guido", "Linus"]
TOPICS = ["python", "durability", "compilers", "databases", "testing", "caching", "queues"]


def reset():
    Table.clock = 0
    for model in Model.registry.values():
        model.objects = Table(model)


def populate(rng, authors, posts, comments):
    people = []
    for i in range(authors):
        name = f"{rng.choice(FIRST)} {chr(65 + i % 26)}."
        email = f"  {name.split()[0]}.{i}@Example.org "
        people.append(Author.create(name=name, email=email, active=str(i % 7 != 0)))
    articles = []
    for i in range(posts):
        title = f"On {rng.choice(TOPICS)} part {i}"
        author = rng.choice(people)
        articles.append(Post.create(author=author.id, title=title, words=rng.randrange(50, 4000)))
    for _ in range(comments):
        post = rng.choice(articles)
        body = "Nice post " * rng.randint(1, 4)
        author = rng.choice(people)
        Comment.create(post=post.id, author=author.id, body=body, likes=rng.randrange(30))
    return people, articles


def workload(rng):
    reset()
    people, articles = populate(rng, 60, 300, 900)
    for post in articles[::3]:
        post.publish()
    checks = []
    published = Post.objects.filter(published=True)
    checks.append(len(published))
    long_reads = published.filter(words__gte=2000).exclude(title__contains="testing")
    checks.append(sum(p.reading_minutes for p in long_reads.order_by("-words", "title")))
    top = Post.objects.all().order_by("-words").limit(5)
    checks.append(",".join(str(p.id) for p in top))
    for author in people[:20]:
        mine = Post.objects.filter(author=author.id)
        liked = Comment.objects.filter(post__in={p.id for p in mine}, likes__gt=20)
        author.karma = len(liked) + mine.aggregate("words") // 1000
        author.save()
    ranked = Author.objects.filter(active=True).order_by("-karma", "name").limit(3)
    checks.append(";".join(f"{a.handle}={a.karma}" for a in ranked))
    for comment in Comment.objects.filter(likes__gte=25).order_by("id").limit(100):
        post = comment.post_obj
        post.score += comment.likes
        post.save()
        checks.append(comment.author_obj.handle[:1])
    bumped = Post.objects.filter(title__icontains="PYTHON").update(score=1)
    checks.append(bumped)
    seen = {post for post in Post.objects.filter(score__gt=0)} | set(articles[:10])
    checks.append(len(seen))
    first = Post.objects.filter(title__startswith="On c").order_by("title").first()
    checks.append(repr(first))
    checks.append(articles[0] == Post.objects.get(articles[0].id))
    checks.append(sorted(Comment.field_names()) == sorted(Comment._fields))
    rows = [p.to_dict() for p in Post.objects.filter(published=True).limit(50)]
    checks.append(sum(len(row) for row in rows))
    try:
        Author.create(name="", email="nobody@example.org")
    except ValidationError as error:
        checks.append(str(error))
    return checks, Table.clock


def run(scale):
    rng = random.Random(1234)
    total_clock = 0
    digest = 0
    sample = None
    for i in range(max(1, int(9 * scale))):
        checks, clock = workload(rng)
        total_clock += clock
        text = "|".join(str(c) for c in checks)
        digest = (digest * 31 + sum(ord(ch) * (j + 1) for j, ch in enumerate(text))) % 1_000_000_007
        if i == 0:
            sample = checks[:4]
    return f"clock {total_clock} digest {digest} sample {sample}"


def main():
    scale = float(os.environ.get("DP_BENCH_SCALE", "1"))
    start = time.perf_counter()
    cpu_start = time.process_time()
    checksum = run(scale)
    cpu = time.process_time() - cpu_start
    elapsed = time.perf_counter() - start
    print(f"orm_like: {checksum}")
    print(f"KERNEL_SECONDS={elapsed:.6f}", file=sys.stderr)
    print(f"KERNEL_CPU_SECONDS={cpu:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
