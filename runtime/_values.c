/* The fast path of a recorded value call (``time.perf_counter()``, ``os.urandom(8)``), in C.
 *
 * ``recording._value_wrapper`` is the whole logic, in Python: a read past the end of the task's
 * recorded entries, with plain arguments or none, appends one raw tuple
 * ``(task, seq, code, lasti, name, fingerprint, result, time)`` to the journal's ``values`` deque
 * (made a record at commit, journal.py); anything else goes through ``perform``. A ``Value`` does
 * the same fast path here and hands every other case, unchanged, to that Python wrapper (made the
 * first time one is needed): the value then costs a few attribute reads and an append, with no
 * Python frame. Nothing is cached between calls: the active run, its failure, frontier hook and
 * cancel request, the effect depth, the task and its position are all read at each call, so a run
 * that ends, fails or is cancelled is seen at once, and the checks, the claim of the seq, the call
 * and the append come in the same order as in Python (the GIL covers them the same way; an asyncio
 * task is found through the same ContextVar). ``configure`` hands over the state the checks read
 * (recording.py).
 *
 * A C call adds no traceback entry and leaves the caller's frame current, so the frame the tuple
 * names is the call site's, and an exception the value function raises carries python's frames.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <structmember.h>

static PyObject *context_globals = NULL;     /* recording.context's namespace: ``_active`` */
/* recording.local.depth of this thread: > 0 while an effect runs (its calls are its own entry's) */
static _Thread_local long effect_depth = 0;
static PyObject *inside_awaited = NULL;      /* the ContextVar: True inside an awaited effect */
static PyObject *task_var = NULL;            /* the ContextVar of the coroutine's or thread's task */
static unsigned long main_thread_id = 0;
static PyObject *plain_fingerprint = NULL;   /* args -> fingerprint, or None if one is not plain */
static PyObject *record_value = NULL;        /* recording._record_value: a result not plain, an error */
static PyObject *slow_factory = NULL;        /* recording._value_wrapper: (spec, f) -> the Python path */
static PyObject *now = NULL;                 /* time.time */
static PyTypeObject *task_type = NULL;      /* journal.TaskJournal: its slots are read directly */
static Py_ssize_t seq_slot, last_recorded_slot, retry_attempts_slot, name_slot;
static PyObject *empty = NULL;               /* "": the fingerprint of no arguments */
static PyObject *one = NULL;

static PyObject *s_active, *s_failure, *s_at_frontier, *s_cancel_requested, *s_journal,
    *s_main, *s_seq, *s_last_recorded, *s_retry_attempts, *s_name, *s_values, *s_append, *s_flusher,
    *s_start_flusher;

typedef struct {
    PyObject_HEAD
    PyObject *spec;
    PyObject *f;
    PyObject *name;
    PyObject *slow; /* the Python wrapper, or NULL until a call needs it */
    vectorcallfunc vectorcall;
} Value;

/* The Python wrapper's call, for every case the fast path does not take. */
static PyObject *
slow_call(Value *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (self->slow == NULL) {
        PyObject *slow = PyObject_CallFunctionObjArgs(slow_factory, self->spec, self->f, NULL);
        if (slow == NULL) {
            return NULL;
        }
        if (self->slow == NULL) { /* another thread may have made one meanwhile: keep that */
            self->slow = slow;
        }
        else {
            Py_DECREF(slow);
        }
    }
    return PyObject_Vectorcall(self->slow, args, nargsf, kwnames);
}

/* ``obj.name`` (a new reference), read from the instance's dictionary: the run and its journal
 * are plain objects whose attributes the fast path reads live there (a generic lookup costs
 * several times more); anything else is looked up as usual. */
static PyObject *
attribute(PyObject *obj, PyObject *name)
{
    PyObject *dict = PyObject_GenericGetDict(obj, NULL);
    if (dict == NULL) {
        PyErr_Clear();
        return PyObject_GetAttr(obj, name);
    }
    PyObject *found = PyDict_GetItemWithError(dict, name);
    Py_DECREF(dict);
    if (found != NULL) {
        return Py_NewRef(found);
    }
    return PyErr_Occurred() ? NULL : PyObject_GetAttr(obj, name);
}

/* 1 if ``obj.name`` is true (``is None`` with ``none``), 0 if not, -1 on error. */
static int
attribute_test(PyObject *obj, PyObject *name, int none)
{
    PyObject *found = attribute(obj, name);
    if (found == NULL) {
        return -1;
    }
    int truth = none ? found == Py_None : PyObject_IsTrue(found);
    Py_DECREF(found);
    return truth;
}

/* A slot of a TaskJournal (a new reference), read where its member descriptor would read it. */
static PyObject *
task_slot(PyObject *task, Py_ssize_t offset, PyObject *name)
{
    if (Py_IS_TYPE(task, task_type)) {
        PyObject *found = *(PyObject **)((char *)task + offset);
        if (found != NULL) {
            return Py_NewRef(found);
        }
    }
    return PyObject_GetAttr(task, name);
}

/* Where the member descriptor of slot ``name`` of ``type`` keeps it, or -1 with an error. */
static Py_ssize_t
slot_offset(PyTypeObject *type, const char *name)
{
    PyObject *descr = PyDict_GetItemString(type->tp_dict, name);
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "configure: %s.%s is not a slot", type->tp_name, name);
        return -1;
    }
    return ((PyMemberDescrObject *)descr)->d_member->offset;
}

/* The types whose values wait raw until their commit: plain and immutable (recording._SCALARS). */
static int
is_scalar(PyObject *obj)
{
    return PyFloat_CheckExact(obj) || PyLong_CheckExact(obj) || PyUnicode_CheckExact(obj) ||
           PyBytes_CheckExact(obj) || PyBool_Check(obj) || obj == Py_None;
}

/* 1 when the run records a value here live (the fast path's conditions on the run and the
 * thread), 0 if the Python path must decide, -1 on error. */
static int
recording_live(PyObject *run)
{
    int ok = attribute_test(run, s_failure, 1);
    if (ok == 1) {
        ok = attribute_test(run, s_at_frontier, 1);
    }
    if (ok == 1) {
        ok = attribute_test(run, s_cancel_requested, 0);
        ok = ok < 0 ? -1 : !ok;
    }
    if (ok == 1) {
        ok = effect_depth == 0;
    }
    if (ok == 1) {
        PyObject *covered = NULL;
        ok = PyContextVar_Get(inside_awaited, Py_False, &covered) < 0 ? -1 : 1;
        if (ok == 1) {
            ok = PyObject_IsTrue(covered);
            ok = ok < 0 ? -1 : !ok;
            Py_DECREF(covered);
        }
    }
    return ok;
}

/* The task the call records under (a new reference), Py_None when nothing is recorded here (a
 * thread the script did not start), NULL on error: recording.current_task past its first checks. */
static PyObject *
current_task(PyObject *journal)
{
    PyObject *task = NULL;
    if (PyContextVar_Get(task_var, Py_None, &task) < 0) {
        return NULL;
    }
    if (task != Py_None || PyThread_get_thread_ident() != main_thread_id) {
        return task;
    }
    Py_DECREF(task);
    return attribute(journal, s_main);
}

/* The task's next seq (a new reference) when it is past its recorded entries and retries none,
 * Py_None when it is not, NULL on error. */
static PyObject *
seq_past_the_end(PyObject *task)
{
    PyObject *seq = task_slot(task, seq_slot, s_seq);
    PyObject *last = seq ? task_slot(task, last_recorded_slot, s_last_recorded) : NULL;
    int past = last ? PyObject_RichCompareBool(seq, last, Py_GT) : -1;
    Py_XDECREF(last);
    if (past == 1) {
        PyObject *retrying = task_slot(task, retry_attempts_slot, s_retry_attempts);
        past = retrying ? PyObject_Not(retrying) : -1;
        Py_XDECREF(retrying);
    }
    if (past == 1) {
        return seq;
    }
    Py_XDECREF(seq);
    if (past < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The value call's exception (raised now) handed to ``record_value``, then raised again. */
static void
record_error(PyObject *record_args[8])
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    record_args[7] = value;
    PyObject *recorded = PyObject_Vectorcall(record_value, record_args, 8, NULL);
    if (recorded == NULL) { /* what failed recording it is raised, as in Python */
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return;
    }
    Py_DECREF(recorded);
    PyErr_Restore(type, value, tb);
}

/* Append the raw tuple of a plain value to the journal's batch (and start the flusher if none
 * runs yet); 0, or -1 on error. */
static int
append_raw(PyObject *journal, PyObject *task, PyObject *seq, PyFrameObject *frame,
           PyObject *name, PyObject *fp, PyObject *result)
{
    PyObject *raw = NULL;
    PyObject *task_name = task_slot(task, name_slot, s_name);
    PyObject *code = (PyObject *)PyFrame_GetCode(frame);
    PyObject *lasti = PyLong_FromLong(PyFrame_GetLasti(frame));
    PyObject *time = task_name && lasti ? PyObject_CallNoArgs(now) : NULL;
    if (time != NULL) {
        raw = PyTuple_Pack(8, task_name, seq, code, lasti, name, fp, result, time);
    }
    Py_XDECREF(time);
    Py_XDECREF(lasti);
    Py_DECREF(code);
    Py_XDECREF(task_name);
    if (raw == NULL) {
        return -1;
    }
    /* Strings, numbers and a code object: the tuple cannot be in a cycle, and left tracked it
     * would make the collector run every 700 values (as it does at its first collection). */
    PyObject_GC_UnTrack(raw);
    PyObject *values = attribute(journal, s_values);
    PyObject *appended = values ? PyObject_CallMethodOneArg(values, s_append, raw) : NULL;
    Py_DECREF(raw);
    Py_XDECREF(values);
    if (appended == NULL) {
        return -1;
    }
    Py_DECREF(appended);
    int idle = attribute_test(journal, s_flusher, 1);
    if (idle == 1) {
        PyObject *started = PyObject_CallMethodNoArgs(journal, s_start_flusher);
        Py_XDECREF(started);
        idle = started == NULL ? -1 : 0;
    }
    return idle;
}

/* Claim the seq, call f, record its value: what ``_value_wrapper``'s fast path does once its
 * checks passed. */
static PyObject *
record_live(Value *self, PyObject *run, PyObject *journal, PyObject *task, PyObject *seq,
            PyObject *fp, PyObject *const *args, size_t nargsf)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* the call site's: a C call adds no frame */
    PyObject *next = PyNumber_Add(seq, one);
    if (next == NULL) {
        return NULL;
    }
    if (Py_IS_TYPE(task, task_type)) { /* task.seq = seq + 1 */
        Py_XSETREF(*(PyObject **)((char *)task + seq_slot), next);
    }
    else {
        int claimed = PyObject_SetAttr(task, s_seq, next);
        Py_DECREF(next);
        if (claimed < 0) {
            return NULL;
        }
    }
    PyObject *result = PyObject_Vectorcall(self->f, args, nargsf, NULL);
    PyObject *record_args[8] = {run, task, seq, self->spec, fp, (PyObject *)frame, Py_None, Py_None};
    if (result == NULL) {
        if (PyErr_ExceptionMatches(PyExc_Exception)) {
            record_error(record_args);
        }
        return NULL;
    }
    if (!is_scalar(result)) {
        record_args[6] = result;
        PyObject *recorded = PyObject_Vectorcall(record_value, record_args, 8, NULL);
        Py_DECREF(result);
        return recorded;
    }
    if (append_raw(journal, task, seq, frame, self->name, fp, result) < 0) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* The fingerprint of plain arguments (a new reference): "" for none, None if one is not plain. */
static PyObject *
fingerprint(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 0) {
        return Py_NewRef(empty);
    }
    PyObject *tuple = PyTuple_New(nargs);
    if (tuple == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(args[i]));
    }
    PyObject *fp = PyObject_CallOneArg(plain_fingerprint, tuple);
    Py_DECREF(tuple);
    return fp;
}

static PyObject *
value_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Value *self = (Value *)op;
    if (context_globals == NULL || (kwnames != NULL && PyTuple_GET_SIZE(kwnames)) ||
        PyEval_GetFrame() == NULL) {
        return slow_call(self, args, nargsf, kwnames);
    }
    PyObject *run = PyDict_GetItemWithError(context_globals, s_active);
    if (run == NULL || run == Py_None) {
        return PyErr_Occurred() ? NULL : slow_call(self, args, nargsf, kwnames);
    }
    Py_INCREF(run);
    PyObject *journal = NULL, *task = NULL, *seq = NULL, *fp = NULL, *result = NULL;
    int live = recording_live(run);
    if (live == 1) {
        journal = attribute(run, s_journal);
        task = journal ? current_task(journal) : NULL;
        live = task == NULL ? -1 : task != Py_None;
    }
    if (live == 1) {
        seq = seq_past_the_end(task);
        live = seq == NULL ? -1 : seq != Py_None;
    }
    if (live == 1) {
        fp = fingerprint(args, PyVectorcall_NARGS(nargsf));
        live = fp == NULL ? -1 : fp != Py_None;
    }
    if (live == 1) {
        result = record_live(self, run, journal, task, seq, fp, args, nargsf);
    }
    else if (live == 0) {
        result = slow_call(self, args, nargsf, kwnames);
    }
    Py_XDECREF(fp);
    Py_XDECREF(seq);
    Py_XDECREF(task);
    Py_XDECREF(journal);
    Py_DECREF(run);
    return result;
}

static PyObject *
value_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *spec, *f;
    if (!PyArg_ParseTuple(args, "OO:Value", &spec, &f)) {
        return NULL;
    }
    if (slow_factory == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "durable_python._values is not configured");
        return NULL;
    }
    PyObject *name = PyObject_GetAttr(spec, s_name);
    if (name == NULL) {
        return NULL;
    }
    Value *self = PyObject_GC_New(Value, type);
    if (self == NULL) {
        Py_DECREF(name);
        return NULL;
    }
    self->spec = Py_NewRef(spec);
    self->f = Py_NewRef(f);
    self->name = name;
    self->slow = NULL;
    self->vectorcall = value_vectorcall;
    PyObject_GC_Track(self);
    return (PyObject *)self;
}

static int
value_traverse(Value *self, visitproc visit, void *arg)
{
    Py_VISIT(self->spec);
    Py_VISIT(self->f);
    Py_VISIT(self->name);
    Py_VISIT(self->slow);
    return 0;
}

static int
value_clear(Value *self)
{
    Py_CLEAR(self->spec);
    Py_CLEAR(self->f);
    Py_CLEAR(self->name);
    Py_CLEAR(self->slow);
    return 0;
}

static void
value_dealloc(Value *self)
{
    PyObject_GC_UnTrack(self);
    value_clear(self);
    PyObject_GC_Del(self);
}

static PyMemberDef value_members[] = {
    {"_spec", T_OBJECT, offsetof(Value, spec), READONLY, "what it records (a recording.Call)"},
    {NULL},
};

static PyTypeObject ValueType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durable_python._values.Value",
    .tp_doc = "Value(spec, f): f recorded as a value entry, its common case in C.",
    .tp_basicsize = sizeof(Value),
    .tp_new = value_new,
    .tp_dealloc = (destructor)value_dealloc,
    .tp_traverse = (traverseproc)value_traverse,
    .tp_clear = (inquiry)value_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Value, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_members = value_members,
};

/* ``local``: ``local.depth`` is the effect depth of the calling thread, kept in C so that the
 * fast path reads it as a variable (a threading.local attribute costs more than the rest of the
 * checks together). */
static PyObject *
local_get_depth(PyObject *self, void *closure)
{
    return PyLong_FromLong(effect_depth);
}

static int
local_set_depth(PyObject *self, PyObject *value, void *closure)
{
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "depth cannot be deleted");
        return -1;
    }
    long depth = PyLong_AsLong(value);
    if (depth == -1 && PyErr_Occurred()) {
        return -1;
    }
    effect_depth = depth;
    return 0;
}

static PyGetSetDef local_getset[] = {
    {"depth", local_get_depth, local_set_depth, "> 0 while an effect runs in this thread", NULL},
    {NULL},
};

static PyTypeObject LocalType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durable_python._values.Local",
    .tp_doc = "The effect depth of each thread (recording.local).",
    .tp_basicsize = sizeof(PyObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_getset = local_getset,
};

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *globals, *awaited, *task, *fingerprint, *record, *factory, *clock;
    PyTypeObject *journal_task;
    unsigned long main_id;
    if (!PyArg_ParseTuple(args, "O!OOkO!OOOO:configure", &PyDict_Type, &globals, &awaited, &task, &main_id, &PyType_Type, &journal_task, &fingerprint,
                          &record, &factory, &clock)) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(awaited) || !PyContextVar_CheckExact(task)) {
        PyErr_SetString(PyExc_TypeError, "configure: the task and effect markers are ContextVars");
        return NULL;
    }
    if ((seq_slot = slot_offset(journal_task, "seq")) < 0 ||
        (last_recorded_slot = slot_offset(journal_task, "last_recorded")) < 0 ||
        (retry_attempts_slot = slot_offset(journal_task, "retry_attempts")) < 0 ||
        (name_slot = slot_offset(journal_task, "name")) < 0) {
        return NULL;
    }
    Py_XSETREF(task_type, (PyTypeObject *)Py_NewRef(journal_task));
    Py_XSETREF(context_globals, Py_NewRef(globals));
    Py_XSETREF(inside_awaited, Py_NewRef(awaited));
    Py_XSETREF(task_var, Py_NewRef(task));
    main_thread_id = main_id;
    Py_XSETREF(plain_fingerprint, Py_NewRef(fingerprint));
    Py_XSETREF(record_value, Py_NewRef(record));
    Py_XSETREF(slow_factory, Py_NewRef(factory));
    Py_XSETREF(now, Py_NewRef(clock));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(context_globals, inside_awaited_effect, task_var, main_thread_id, "
     "TaskJournal, plain_fingerprint, record_value, value_wrapper, time): the state the fast path "
     "reads and the Python functions it hands the other cases to."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_values", "The fast path of recorded value calls, in C.", -1, methods,
};

static int
intern_names(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_active, "_active"},
        {&s_failure, "failure"},
        {&s_at_frontier, "at_frontier"},
        {&s_cancel_requested, "cancel_requested"},
        {&s_journal, "journal"},
        {&s_main, "main"},
        {&s_seq, "seq"},
        {&s_last_recorded, "last_recorded"},
        {&s_retry_attempts, "retry_attempts"},
        {&s_name, "name"},
        {&s_values, "values"},
        {&s_append, "append"},
        {&s_flusher, "_flusher"},
        {&s_start_flusher, "start_flusher"},
        {&empty, ""},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL &&
            (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    return 0;
}

PyMODINIT_FUNC
PyInit__values(void)
{
    if (one == NULL && (one = PyLong_FromLong(1)) == NULL) {
        return NULL;
    }
    if (intern_names() < 0 || PyType_Ready(&ValueType) < 0 || PyType_Ready(&LocalType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    PyObject *local = PyObject_New(PyObject, &LocalType);
    if (local == NULL || PyModule_AddObjectRef(module, "Value", (PyObject *)&ValueType) < 0 ||
        PyModule_AddObjectRef(module, "local", local) < 0) {
        Py_XDECREF(local);
        Py_DECREF(module);
        return NULL;
    }
    Py_DECREF(local);
    return module;
}
