"""What durable-python knows about callables it did not rewrite: the knowledge tables.

A callable is named ``module.qualname`` after the module name is normalised (``posix.getpid`` is
``os.getpid``). The policy of a name is the first match of:

1. ``CALLABLES``: an exact name (a function, a method, a class);
2. ``MODULES``: the name's module or its closest listed parent package;
3. ``effect``: anything unknown touches the outside world until someone says otherwise; a class
   of it is a constructor whose object, when it cannot be saved (an SDK client), is constructed
   again on replay.

Policies: ``inline`` (run it, also on replay), ``value`` (a nondeterministic read: record the value,
return it on replay), ``effect`` (record result or exception, commit, never call again on replay),
and the special handlers in ``handlers.py`` (``sleep``, ``input``, ``random_instance``,
``random_seed``). A resource (a live handle safe to rebuild) is ``inline``: it is called again on
replay and its methods are judged on their own.
"""

from __future__ import annotations

from durable_python.model import Policy

INLINE, VALUE, EFFECT, RESOURCE = Policy.INLINE, Policy.VALUE, Policy.EFFECT, Policy.RESOURCE

# C modules carry the name of their implementation; users know them by the public module.
MODULE_ALIASES = {
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "genericpath": "os.path",
    "_random": "random",
    "_datetime": "datetime",
    "_pydatetime": "datetime",
    "_json": "json",
    "_functools": "functools",
    "_collections": "collections",
    "_collections_abc": "collections.abc",
    "_heapq": "heapq",
    "_bisect": "bisect",
    "_operator": "operator",
    "_io": "io",
    "_pyio": "io",
    "_sre": "re",
    "_thread": "threading",
    "_pickle": "pickle",
    "_struct": "struct",
    "_abc": "abc",
    "_py_abc": "abc",
    "_weakref": "weakref",
    "_weakrefset": "weakref",
    "_string": "string",
    "_csv": "csv",
    "_decimal": "decimal",
    "_pydecimal": "decimal",
    "_statistics": "statistics",
    "_contextvars": "contextvars",
    "_asyncio": "asyncio",
    "_socket": "socket",
    "_ssl": "ssl",
    "_hashlib": "hashlib",
    "_md5": "hashlib",
    "_sha1": "hashlib",
    "_sha256": "hashlib",
    "_sha512": "hashlib",
    "_sha3": "hashlib",
    "_blake2": "hashlib",
    "_sqlite3": "sqlite3",
    "_posixsubprocess": "subprocess",
    "_locale": "locale",
    "_codecs": "codecs",
    "_warnings": "warnings",
    "_signal": "signal",
    "_uuid": "uuid",
    "_bz2": "bz2",
    "_lzma": "lzma",
    "_elementtree": "xml.etree",
    "_queue": "queue",
    "_stat": "stat",
    "_strptime": "time",
    "_tokenize": "tokenize",
    "_ast": "ast",
    "_opcode": "dis",
    "_typing": "typing",
    "_zoneinfo": "zoneinfo",
    "_contextlib": "contextlib",
    "_compression": "gzip",
    "_frozen_importlib": "importlib",
    "_frozen_importlib_external": "importlib",
    "_imp": "importlib",
    "zipimport": "importlib",
    "_sitebuiltins": "builtins",
    "_osx_support": "sysconfig",
    "_sysconfigdata": "sysconfig",
    "_tracemalloc": "tracemalloc",
    "_multibytecodec": "codecs",
    "_unicodedata": "unicodedata",
}

# Modules whose callables compute from their arguments and the interpreter's own state only.
# Functions in them that mutate their arguments (heapq.heappush, bisect.insort, list.sort,
# random.shuffle) are inline on purpose: replay re-runs them on the same replayed inputs.
# CPython's C-API test modules (the last line) are in-process by nature; recorded, the exception
# ``_testcapi.raise_exception`` sets would be instantiated inside the runtime rather than in the
# frame that catches it, as Python does (test_exceptions' testSettingException looks).
_PURE = """
    builtins math cmath numbers decimal fractions statistics operator functools itertools
    collections collections.abc heapq bisect copy copyreg array queue weakref gc
    json re string textwrap struct base64 binascii codecs unicodedata difflib fnmatch shlex
    html html.parser html.entities urllib.parse ipaddress calendar pprint reprlib keyword
    hashlib hmac zlib bz2 lzma enum dataclasses typing typing_extensions abc contextlib
    contextvars inspect types dis ast token tokenize symtable traceback warnings linecache
    io pickle csv argparse optparse getopt sys atexit signal unittest doctest logging
    graphlib colorsys locale gettext importlib pkgutil email mimetypes zoneinfo
    xml tomllib configparser sysconfig platform stat string.templatelib threading asyncio
    concurrent selectors durable_python
    _testcapi _testinternalcapi _testbuffer _testmultiphase _testsinglephase _testimportmultiple
"""

# Third-party modules that are pure, or whose objects come back from replay and must keep working
# (a replayed ``requests.Response`` still answers ``.json()``). Their constructors of live handles
# (``requests.Session``, ``httpx.Client``) are resources, called again on replay.
_PURE_THIRD_PARTY = """
    pydantic pydantic_core attr attrs yaml jinja2 markupsafe packaging toml tomli tomli_w
    more_itertools toolz regex simplejson orjson ujson msgpack six dateutil.parser
    dateutil.relativedelta typing_inspection annotated_types
    requests.models requests.exceptions requests.structures requests.cookies
    requests.utils requests.auth requests.status_codes urllib3.exceptions urllib3.util
    httpx._models httpx._exceptions httpx._urls httpx._config httpx._auth
    charset_normalizer idna certifi
"""

MODULES: dict[str, str] = {name: INLINE for name in (_PURE + _PURE_THIRD_PARTY).split()}
MODULES.update(
    {
        "os": EFFECT,
        "os.path": INLINE,
        "pathlib": INLINE,
        "shutil": EFFECT,
        "tempfile": EFFECT,
        "subprocess": EFFECT,
        "socket": EFFECT,
        "ssl": EFFECT,
        "http": EFFECT,
        "urllib.request": EFFECT,
        "smtplib": EFFECT,
        "sqlite3": EFFECT,
        "time": INLINE,
        "datetime": INLINE,
        "uuid": INLINE,
        "random": INLINE,
        "secrets": VALUE,
        "glob": VALUE,
        "getpass": VALUE,
    }
)

_VALUES = """
    time.time time.time_ns time.monotonic time.monotonic_ns time.perf_counter
    time.perf_counter_ns time.process_time time.process_time_ns time.thread_time
    time.thread_time_ns time.localtime time.gmtime time.ctime time.asctime time.strftime
    time.clock_gettime time.clock_gettime_ns
    datetime.datetime.now datetime.datetime.utcnow datetime.datetime.today datetime.date.today
    uuid.uuid1 uuid.uuid4 uuid.getnode
    os.urandom os.getpid os.getppid os.getcwd os.getcwdb os.getuid os.geteuid os.getgid
    os.getlogin os.cpu_count os.listdir os.stat os.lstat os.access os.get_terminal_size
    os.isatty os.getloadavg os.times os.uname os.sched_getaffinity
    os.path.exists os.path.lexists os.path.isfile os.path.isdir os.path.islink
    os.path.ismount os.path.getsize os.path.getmtime os.path.getatime os.path.getctime
    os.path.realpath os.path.abspath os.path.expanduser os.path.samefile
    pathlib.Path.exists pathlib.Path.is_file pathlib.Path.is_dir pathlib.Path.is_symlink
    pathlib.Path.stat pathlib.Path.lstat pathlib.Path.cwd pathlib.Path.home
    pathlib.Path.resolve pathlib.Path.absolute pathlib.Path.expanduser pathlib.Path.samefile
    random.SystemRandom.random random.SystemRandom.getrandbits random.SystemRandom.randbytes
    socket.gethostname platform.node platform.uname
"""

_EFFECTS = """
    pathlib.Path.mkdir pathlib.Path.rmdir pathlib.Path.unlink pathlib.Path.rename
    pathlib.Path.replace pathlib.Path.touch pathlib.Path.chmod pathlib.Path.symlink_to
    pathlib.Path.hardlink_to pathlib.Path.write_text pathlib.Path.write_bytes
"""

CALLABLES: dict[str, str] = {name: VALUE for name in _VALUES.split()}
CALLABLES.update({name: EFFECT for name in _EFFECTS.split()})
CALLABLES.update(
    {
        "time.sleep": "sleep",
        "threading.Thread.start": "thread_start",
        "concurrent.futures._base.as_completed": "futures_as_completed",
        "concurrent.futures._base.wait": "futures_wait",
        "asyncio.runners.run": "event_loop_policy",
        "asyncio.runners.Runner": "event_loop_policy",
        "asyncio.events.new_event_loop": "event_loop_policy",
        "asyncio.events.get_event_loop": "event_loop_policy",
        "asyncio.tasks.sleep": "async_sleep",
        "asyncio.tasks.wait": "async_wait",
        "asyncio.tasks.as_completed": "async_as_completed",
        "asyncio.tasks.wait_for": "async_wait_for",
        "builtins.input": "input",
        "random.Random": "random_instance",
        "random.Random.seed": "random_seed",
        "random.seed": "random_seed",
        "os.fspath": INLINE,
        "os.fsencode": INLINE,
        "os.fsdecode": INLINE,
        "os.getenv": INLINE,  # reads os.environ, which records its own reads
        "os.getenvb": INLINE,
        "os.get_exec_path": INLINE,
        "os.strerror": INLINE,
        "os.cpu_count": VALUE,
        "os.DirEntry.is_dir": VALUE,
        "os.DirEntry.is_file": VALUE,
        "os.DirEntry.stat": VALUE,
        "os.PathLike": INLINE,
        "os.stat_result": INLINE,
        "os._Environ": INLINE,
        "os.terminal_size": INLINE,
        "subprocess.CompletedProcess": INLINE,
        "subprocess.CalledProcessError": INLINE,
        "subprocess.list2cmdline": INLINE,
        "shutil.which": VALUE,
        "shutil.get_terminal_size": VALUE,
        "shutil.disk_usage": VALUE,
        "tempfile.gettempdir": VALUE,
        "requests.sessions.Session": INLINE,
        "requests.adapters.HTTPAdapter": INLINE,
        "httpx._client.Client": INLINE,
        "httpx._client.AsyncClient": INLINE,
    }
)

# ----- Integrations: files, subprocesses, HTTP clients, databases (files.py, subprocesses.py,
# http.py, databases.py). Each special policy is a handler of that name in its module.
INTEGRATIONS: dict[str, str] = {
    # files: durable file objects; reads are values, writes replay by position (files.py)
    "io.open": "open_file",
    "pathlib.Path.open": "path_open",
    "codecs.open": "codecs_open",
    "logging.basicConfig": "logging_files",
    "logging.FileHandler": "logging_files",
    "logging.handlers.WatchedFileHandler": "logging_files",
    "logging.handlers.RotatingFileHandler": "logging_files",
    "logging.handlers.TimedRotatingFileHandler": "logging_files",
    "logging.config.dictConfig": "logging_files",
    "logging.config.fileConfig": "logging_files",
    "pathlib.Path.read_text": VALUE,
    "pathlib.Path.read_bytes": VALUE,
    "pathlib.Path.iterdir": "listing",
    "pathlib.Path.glob": "listing",
    "pathlib.Path.rglob": "listing",
    "glob.iglob": "listing",
    "os.scandir": "scandir",
    "os.walk": "walk",
    "os.fwalk": INLINE,  # yields directory descriptors, which cannot be replayed: live
    "shutil.copyfileobj": INLINE,  # between file objects, which replay on their own
    # raw descriptors: opened again past the frontier, positions counted (descriptors.py)
    "os.open": "os_open",
    "os.close": "os_close",
    "tempfile.mkstemp": "mkstemp",
    "tempfile.NamedTemporaryFile": "named_temporary_file",
    "tempfile.TemporaryFile": RESOURCE,  # no name to open again: made again, refilled by replay
    # work queues shared by the script's threads: which item each get took (queues.py)
    "queue.Queue": "work_queue",
    "queue.LifoQueue": "work_queue",
    "queue.PriorityQueue": "work_queue",
    "queue.Queue.get": "queue_get",
    "queue.Queue.get_nowait": "queue_get",
    # subprocesses: run/check_output/... are effects (module default); Popen is a stand-in
    "subprocess.run": "subprocess_call",
    "subprocess.call": "subprocess_call",
    "subprocess.check_call": "subprocess_call",
    "subprocess.check_output": "subprocess_call",
    "subprocess.Popen": "popen",
    "os.popen": "os_popen",
    # HTTP: each request one effect; sessions and clients are resources (http.py)
    "urllib.request.urlopen": "urlopen",
    "urllib.request.OpenerDirector.open": "urlopen",
    "urllib.request.Request": INLINE,
    "urllib.request.build_opener": INLINE,
    "urllib.request.install_opener": INLINE,
    "urllib.request.ProxyHandler": INLINE,
    "urllib.request.HTTPBasicAuthHandler": INLINE,
    "urllib.request.HTTPPasswordMgrWithDefaultRealm": INLINE,
    "urllib.request.HTTPCookieProcessor": INLINE,
    "requests.sessions.Session.mount": INLINE,
    "requests.sessions.Session.get_adapter": INLINE,
    "requests.sessions.Session.prepare_request": INLINE,
    "requests.sessions.Session.merge_environment_settings": INLINE,
    "requests.sessions.Session.close": INLINE,
    "httpx._client.Client.build_request": INLINE,
    "httpx._client.Client.close": INLINE,
    "httpx._client.AsyncClient.build_request": INLINE,
    "httpx._client.AsyncClient.aclose": INLINE,
    "httpx.stream": "http_stream",
    "httpx._client.Client.stream": "http_stream",
    "httpx._client.AsyncClient.stream": "http_stream",
    # databases: connections are resources, statements effects with recorded rows (databases.py)
    "sqlite3.connect": "sqlite_connect",
}
for _method in "request get options head post put patch delete".split():
    INTEGRATIONS[f"requests.api.{_method}"] = "http_request"
    INTEGRATIONS[f"requests.sessions.Session.{_method}"] = "http_request"
    INTEGRATIONS[f"httpx.{_method}"] = "http_request"
    INTEGRATIONS[f"httpx._client.Client.{_method}"] = "http_request"
    INTEGRATIONS[f"httpx._client.AsyncClient.{_method}"] = "http_request"
for _owner in ("requests.sessions.Session", "httpx._client.Client", "httpx._client.AsyncClient"):
    INTEGRATIONS[f"{_owner}.send"] = "http_request"
for _call in "write read lseek fsync fdatasync fstat ftruncate pread pwrite".split():
    INTEGRATIONS[f"os.{_call}"] = "fd_call"
CALLABLES.update(INTEGRATIONS)

# ----- Computation libraries (numeric.py): inline, their I/O recorded like a file's (reads are
# values, writes effects), their randomness seeded per run or recorded.
MODULES.update(dict.fromkeys("numpy pandas polars pyarrow scipy".split(), INLINE))
_COMPUTATION_READS = """
    pandas.read_csv pandas.read_table pandas.read_fwf pandas.read_json pandas.read_parquet
    pandas.read_feather pandas.read_orc pandas.read_excel pandas.read_html pandas.read_xml
    pandas.read_pickle pandas.read_sql pandas.read_sql_query pandas.read_sql_table
    pandas.read_hdf pandas.read_stata pandas.read_sas pandas.read_spss pandas.read_clipboard
    pandas._libs.tslibs.timestamps.Timestamp.now pandas._libs.tslibs.timestamps.Timestamp.today
    pandas._libs.tslibs.timestamps.Timestamp.utcnow
    numpy.load numpy.loadtxt numpy.genfromtxt numpy.fromfile
    polars.io.csv.functions.read_csv polars.io.parquet.functions.read_parquet
    polars.io.json.read.read_json polars.io.ndjson.read_ndjson polars.io.ipc.functions.read_ipc
    polars.io.spreadsheet.functions.read_excel polars.io.database.functions.read_database
    polars.io.database.functions.read_database_uri polars.io.avro.read_avro
    polars.lazyframe.frame.LazyFrame.collect
    pyarrow.parquet.core.read_table pyarrow._csv.read_csv pyarrow._json.read_json
    pyarrow.feather.read_table pyarrow.feather.read_feather
"""
_COMPUTATION_WRITES = """
    pandas.core.generic.NDFrame.to_csv pandas.core.generic.NDFrame.to_json
    pandas.core.generic.NDFrame.to_excel pandas.core.generic.NDFrame.to_pickle
    pandas.core.generic.NDFrame.to_hdf pandas.core.generic.NDFrame.to_sql
    pandas.core.generic.NDFrame.to_clipboard pandas.core.frame.DataFrame.to_parquet
    pandas.core.frame.DataFrame.to_feather pandas.core.frame.DataFrame.to_orc
    pandas.core.frame.DataFrame.to_stata pandas.core.frame.DataFrame.to_xml
    numpy.save numpy.savez numpy.savez_compressed numpy.savetxt numpy.ndarray.tofile
    numpy.ndarray.dump
    polars.dataframe.frame.DataFrame.write_csv polars.dataframe.frame.DataFrame.write_parquet
    polars.dataframe.frame.DataFrame.write_json polars.dataframe.frame.DataFrame.write_ndjson
    polars.dataframe.frame.DataFrame.write_ipc polars.dataframe.frame.DataFrame.write_excel
    polars.dataframe.frame.DataFrame.write_database polars.dataframe.frame.DataFrame.write_avro
    polars.lazyframe.frame.LazyFrame.sink_csv polars.lazyframe.frame.LazyFrame.sink_parquet
    polars.lazyframe.frame.LazyFrame.sink_ipc polars.lazyframe.frame.LazyFrame.sink_ndjson
    pyarrow.parquet.core.write_table pyarrow._csv.write_csv pyarrow.feather.write_feather
"""
_NUMPY_SEEDED = """
    numpy.random.default_rng numpy.random.seed numpy.random.RandomState.seed
    numpy.random.mtrand.RandomState
    numpy.random._pcg64.PCG64 numpy.random._pcg64.PCG64DXSM numpy.random._mt19937.MT19937
    numpy.random._philox.Philox numpy.random._sfc64.SFC64 numpy.random.bit_generator.SeedSequence
"""
_SEED_KEYWORD = """
    polars.dataframe.frame.DataFrame.sample polars.series.series.Series.sample
    polars.series.series.Series.shuffle polars.expr.expr.Expr.sample polars.expr.expr.Expr.shuffle
"""
CALLABLES.update(dict.fromkeys(_COMPUTATION_READS.split(), VALUE))
CALLABLES.update(dict.fromkeys(_COMPUTATION_WRITES.split(), EFFECT))
CALLABLES.update(dict.fromkeys(_NUMPY_SEEDED.split(), "numpy_seeded"))
CALLABLES.update(dict.fromkeys(_SEED_KEYWORD.split(), "seed_keyword"))

# ----- SDK clients. A class of a library no table describes is an effect whose object, if it
# cannot be saved, is constructed again on replay (``openai.OpenAI``, ``github.Github``: see
# sdk_streams.py and recording.py). Factory functions of clients are named here: called again on
# replay, not recorded. Not database drivers with transactions (psycopg, SQLAlchemy): a statement
# replayed from the journal would not be in the transaction a resumed run commits, so their
# connections stay effects, which replay as the stub that says what to do.
_CLIENT_FACTORIES = """
    boto3.client boto3.resource boto3.session.Session.client boto3.session.Session.resource
    boto3.resources.factory.ResourceFactory._create_class_partial.<locals>.create_resource
    redis.client.Redis.from_url redis.utils.from_url redis.asyncio.client.Redis.from_url
"""
CALLABLES.update(dict.fromkeys(_CLIENT_FACTORIES.split(), RESOURCE))
# Named so that their classes (``pymysql.connect`` is one) are not constructed again either.
# Likewise clients whose session is made by a method (``SSHClient.connect``, ``FTP.login``): a
# replayed connect did not happen, so a client constructed again would not be connected.
_NOT_CONSTRUCTED_AGAIN = """
    psycopg psycopg2 pymysql MySQLdb mysql.connector sqlalchemy asyncpg aiomysql aiopg
    oracledb cx_Oracle pyodbc duckdb
    paramiko ftplib imaplib poplib nntplib telnetlib
"""
NOT_CONSTRUCTED_AGAIN = frozenset(_NOT_CONSTRUCTED_AGAIN.split())
MODULES.update(dict.fromkeys(NOT_CONSTRUCTED_AGAIN, EFFECT))
# httpx names its public classes and functions ``httpx.X``: its models, clients (resources),
# transports and auth run inline; the request functions above and the clients' methods
# (``httpx._client``, not listed: effects) are recorded.
MODULES["httpx"] = INLINE
CALLABLES.update(
    {
        "requests.sessions.Session": RESOURCE,
        "httpx.Client": RESOURCE,
        "httpx.AsyncClient": RESOURCE,
    }
)

# ----- SDK streams (sdk_streams.py): a stream a recorded call returns is read to its end inside
# the call and recorded as its chunks. ``iterator``: iterated (``create(stream=True)``);
# ``async_iterator``: the same with ``async for``; ``body``: a response body, read whole, also
# as a value of the dictionary a call returns; ``pages``: a lazily paged list, read to its last
# page; ``manager``: a context manager whose stream
# also assembles a final object, given by the method named second.
STREAMS: dict[str, tuple[str, str | None]] = {
    "botocore.response.StreamingBody": ("body", None),  # in the dict get_object returns
    "github.PaginatedList.PaginatedList": ("pages", None),
    "openai.Stream": ("iterator", None),
    "openai.AsyncStream": ("async_iterator", None),
    "openai.lib.streaming.chat._completions.ChatCompletionStreamManager": (
        "manager",
        "get_final_completion",
    ),
    "openai.lib.streaming.responses._responses.ResponseStreamManager": (
        "manager",
        "get_final_response",
    ),
}

# Read-only views that pickle cannot save, saved as a view of their ``copy()`` (codec.py): the
# headers of aiohttp's responses, which slack_sdk's AsyncSlackResponse keeps.
SAVED_AS_COPIES = frozenset(
    {"multidict._multidict.CIMultiDictProxy", "multidict._multidict.MultiDictProxy"}
)
