/* The resolver in C: what every rewritten call site ``__dp__(f)(args)`` or
 * ``__dp__(obj, "name").name(args)`` runs.
 *
 * Same logic as ``resolver.py``'s pure-Python ``resolve`` (which is the fallback when this module is
 * not built): look the callable's key up in the decisions dictionary; ``None`` means "run it
 * inline", so ``f`` itself is returned and called from the user's frame; a missing key goes to
 * the Python slow path, which decides and caches. A bound method counts as its function; a
 * function's decision is kept on its code object (in the code's "extra" slot of PEP 523: hashing a
 * code object costs more than the whole call), tagged with the generation of ``configure`` that
 * made it; a builtin method of an object whose type runs inline entirely is settled by that type,
 * and any other builtin method by the decision kept here for its type and method definition. The
 * methods of a redirected object (``random``'s module-level generator) go to the slow path. A
 * callable object named by its type alone (``operator.itemgetter(1)``) is settled by its type.
 *
 * A recording wrapper is handed out inside a ``Hiding`` object, a C callable: C calls add no
 * traceback entry, so when the wrapper raises, ``Hiding`` takes the runtime's own frames out of the
 * exception's traceback (with ``frames.without_own_frames``) and the call site's frame then adds
 * its entry as usual. Code that walks ``exc.__traceback__`` sees the frames plain Python has. A
 * successful call pays one forwarding C call and nothing else.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <structmember.h>

#if PY_VERSION_HEX >= 0x030C0000
#define GET_CODE_EXTRA PyUnstable_Code_GetExtra
#define SET_CODE_EXTRA PyUnstable_Code_SetExtra
#define REQUEST_EXTRA_INDEX PyUnstable_Eval_RequestCodeExtraIndex
#else
#define GET_CODE_EXTRA _PyCode_GetExtra
#define SET_CODE_EXTRA _PyCode_SetExtra
#define REQUEST_EXTRA_INDEX _PyEval_RequestCodeExtraIndex
#endif

#if PY_VERSION_HEX >= 0x030D0000
/* Not exported any more: look the attribute up as ``getattr`` does (a bound method). */
static int
get_method(PyObject *obj, PyObject *name, PyObject **found)
{
    *found = PyObject_GetAttr(obj, name);
    return 0;
}
#else
#define get_method _PyObject_GetMethod /* a function of the type is returned unbound: 1 */
#endif

static PyObject *decisions = NULL;         /* key -> None or a wrapper factory */
static PyObject *inline_owner_types = NULL; /* type -> None: every builtin method of it is inline */
static PyObject *inline_call_types = NULL; /* type -> None: every instance of it is called inline */
static PyObject *redirected = NULL;        /* tuple: objects whose methods are decided call by call */
static PyObject *slow_path = NULL;         /* f -> decision, deciding and caching */
static PyObject *apply_decision(PyObject *decision, PyObject *f);
static PyObject *generation = NULL;        /* a new object at each configure: stale extras miss */
static PyObject *shared_code = NULL;       /* on a code object: decide its functions one by one */
static PyObject *without_own_frames = NULL; /* traceback -> the same without durable-python's frames */
static Py_ssize_t extra_index = -1;
static PyObject *self_name = NULL;         /* "__self__" */

static void
free_extra(void *extra)
{
    Py_XDECREF((PyObject *)extra);
}

/* The decision kept on a code object by this generation, borrowed, or NULL. */
static PyObject *
decision_of_code(PyObject *code)
{
    void *extra = NULL;
    if (GET_CODE_EXTRA(code, extra_index, &extra) < 0) {
        PyErr_Clear();
        return NULL;
    }
    if (extra == NULL || PyTuple_GET_ITEM((PyObject *)extra, 0) != generation) {
        return NULL;
    }
    return PyTuple_GET_ITEM((PyObject *)extra, 1);
}

static PyObject *
resolve_function_slowly(PyObject *f, PyObject *function, PyObject *code)
{
    PyObject *decision = PyObject_CallOneArg(slow_path, f);
    if (decision == NULL) {
        return NULL;
    }
    /* The slow path keeps a renamed function's decision under the function itself. */
    int by_function = PyDict_Contains(decisions, function);
    if (by_function < 0) {
        PyErr_Clear();
        by_function = 1;
    }
    PyObject *pair = PyTuple_Pack(2, generation, by_function ? shared_code : decision);
    if (pair != NULL) {
        void *old = NULL;
        if (GET_CODE_EXTRA(code, extra_index, &old) == 0 &&
            SET_CODE_EXTRA(code, extra_index, pair) == 0) {
            Py_XDECREF((PyObject *)old);
        }
        else {
            PyErr_Clear();
            Py_DECREF(pair);
        }
    }
    else {
        PyErr_Clear();
    }
    PyObject *result = apply_decision(decision, f);
    Py_DECREF(decision);
    return result;
}

typedef struct {
    PyObject_HEAD
    PyObject *wrapper;
    vectorcallfunc vectorcall;
} Hiding;

/* Replace the raised exception's traceback by the same without durable-python's own frames. If
 * that fails (no memory, no stack left), the exception is left as it was. */
static void
hide_own_frames(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL && PyExceptionInstance_Check(value)) {
        PyObject *kept = PyObject_CallOneArg(without_own_frames, tb);
        if (kept == NULL) {
            PyErr_Clear();
        }
        else if (PyException_SetTraceback(value, kept) < 0) {
            PyErr_Clear();
            Py_DECREF(kept);
        }
        else {
            Py_DECREF(tb);
            tb = kept;
            if (kept == Py_None) {
                Py_DECREF(kept);
                tb = NULL;
            }
        }
    }
    PyErr_Restore(type, value, tb);
}

static PyObject *
hiding_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    PyObject *result = PyObject_Vectorcall(((Hiding *)self)->wrapper, args, nargsf, kwnames);
    if (result == NULL) {
        hide_own_frames();
    }
    return result;
}

static void
hiding_dealloc(PyObject *self)
{
    Py_DECREF(((Hiding *)self)->wrapper);
    PyObject_Free(self);
}

static PyMemberDef hiding_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Hiding, wrapper), READONLY, "the recording wrapper"},
    {NULL},
};

static PyTypeObject HidingType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "durable_python._resolver.Hiding",
    .tp_doc = "A recording wrapper whose frames are taken out of the tracebacks it raises.",
    .tp_basicsize = sizeof(Hiding),
    .tp_dealloc = hiding_dealloc,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Hiding, vectorcall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_members = hiding_members,
};

static PyObject *
apply_decision(PyObject *decision, PyObject *f)
{
    if (decision == Py_None) {
        Py_INCREF(f);
        return f;
    }
    PyObject *wrapper = PyObject_CallOneArg(decision, f);
    if (wrapper == NULL || wrapper == f || without_own_frames == NULL) {
        return wrapper;
    }
    Hiding *hiding = PyObject_New(Hiding, &HidingType);
    if (hiding == NULL) {
        Py_DECREF(wrapper);
        return NULL;
    }
    hiding->wrapper = wrapper;
    hiding->vectorcall = hiding_vectorcall;
    return (PyObject *)hiding;
}

static PyObject *
resolve_slowly(PyObject *f)
{
    PyObject *decision = PyObject_CallOneArg(slow_path, f);
    if (decision == NULL) {
        return NULL;
    }
    PyObject *result = apply_decision(decision, f);
    Py_DECREF(decision);
    return result;
}

/* True when ``owner``'s methods are decided call by call (one of the redirected objects). */
static int
is_redirected(PyObject *owner)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(redirected); i++) {
        if (PyTuple_GET_ITEM(redirected, i) == owner) {
            return 1;
        }
    }
    return 0;
}

/* The slow path's decisions of builtin methods, by the type of their object and their method
 * definition (which names them): the slow path keeps them by type and name, a dictionary C
 * cannot look up without making the name. Direct-mapped; a collision only costs a slow call. */
#define OWNER_METHODS 1024
static struct {
    PyTypeObject *type; /* strong references; NULL: an empty slot */
    PyMethodDef *def;
    PyObject *decision;
} owner_methods[OWNER_METHODS];

static void
forget_owner_methods(void)
{
    for (int i = 0; i < OWNER_METHODS; i++) {
        Py_CLEAR(owner_methods[i].type);
        Py_CLEAR(owner_methods[i].decision);
        owner_methods[i].def = NULL;
    }
}

static PyObject *
resolve_builtin_method(PyObject *f, PyTypeObject *type)
{
    PyMethodDef *def = ((PyCFunctionObject *)f)->m_ml;
    size_t slot = (((size_t)type >> 4) ^ ((size_t)def >> 3) ^ ((size_t)def >> 13)) % OWNER_METHODS;
    if (owner_methods[slot].type == type && owner_methods[slot].def == def) {
        return apply_decision(owner_methods[slot].decision, f);
    }
    PyObject *decision = PyObject_CallOneArg(slow_path, f);
    if (decision == NULL) {
        return NULL;
    }
    Py_INCREF(type);
    Py_INCREF(decision);
    Py_XSETREF(owner_methods[slot].type, type);
    owner_methods[slot].def = def;
    Py_XSETREF(owner_methods[slot].decision, decision);
    PyObject *result = apply_decision(decision, f);
    Py_DECREF(decision);
    return result;
}

/* A builtin method (or method-wrapper) of ``owner`` (a new reference, or NULL on error): itself
 * when every builtin method of the owner's type runs inline, else what the slow path decides
 * (kept here for a builtin method). */
static PyObject *
resolve_by_owner(PyObject *f, PyObject *owner)
{
    if (owner == NULL) {
        return NULL;
    }
    PyTypeObject *type = Py_TYPE(owner);
    int redirect = is_redirected(owner);
    Py_DECREF(owner);
    if (redirect) {
        return resolve_slowly(f);
    }
    PyObject *found = PyDict_GetItemWithError(inline_owner_types, (PyObject *)type);
    if (found != NULL) {
        Py_INCREF(f);
        return f;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyCFunction_Check(f) ? resolve_builtin_method(f, type) : resolve_slowly(f);
}

static PyObject *
resolve_callable(PyObject *f)
{
    PyObject *key = f;
    PyTypeObject *kind = Py_TYPE(f);
    if (decisions == NULL) {
        Py_INCREF(f);
        return f;
    }
    if (kind == &PyMethod_Type) {
        if (is_redirected(PyMethod_GET_SELF(f))) {
            return resolve_slowly(f);
        }
        key = PyMethod_GET_FUNCTION(f);
        kind = Py_TYPE(key);
    }
    if (kind == &PyFunction_Type) {
        PyObject *code = PyFunction_GET_CODE(key);
        PyObject *decision = decision_of_code(code);
        if (decision == shared_code) {
            decision = PyDict_GetItemWithError(decisions, key);
            if (decision != NULL) {
                return apply_decision(decision, f);
            }
            return PyErr_Occurred() ? NULL : resolve_slowly(f);
        }
        if (decision != NULL) {
            return apply_decision(decision, f);
        }
        return resolve_function_slowly(f, key, code);
    }
    if (kind == &_PyMethodWrapper_Type) { /* made anew each time: settled by its object's type */
        return resolve_by_owner(f, PyObject_GetAttr(f, self_name));
    }
    if (PyCFunction_Check(f)) {
        PyObject *owner = PyCFunction_GET_SELF(f);
        /* Bound to a class (a classmethod: ``datetime.datetime.now``), it is named by that class:
         * kept by itself in the decisions, as the slow path keeps it. */
        if (owner != NULL && !PyModule_Check(owner) && !PyType_Check(owner)) {
            Py_INCREF(owner);
            return resolve_by_owner(f, owner);
        }
    }
    PyObject *decision = PyDict_GetItemWithError(decisions, key);
    if (decision != NULL) {
        return apply_decision(decision, f);
    }
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return NULL;
        }
        PyErr_Clear(); /* an unhashable callable object: settled by its type or decided anew */
    }
    if (PyDict_GetItemWithError(inline_call_types, (PyObject *)kind) != NULL) {
        Py_INCREF(f);
        return f;
    }
    return PyErr_Occurred() ? NULL : resolve_slowly(f);
}

/* ``__dp__(obj, "name").name(args)``, the rewrite of a method call: when ``obj.name`` is an
 * inline function of obj's type (not shadowed by obj's own attributes), ``obj`` itself comes back
 * and the call stays a method call, with no bound method made (that allocation was most of the
 * cost of a rewritten method call). Otherwise a Holder comes back: every attribute of it is the
 * resolved callable, or it raises the lookup's error when ``.name`` is read, where Python would. */
typedef struct {
    PyObject_HEAD
    PyObject *callable;
    PyObject *error_type, *error_value, *error_traceback;
} Holder;

static void
holder_dealloc(Holder *self)
{
    Py_XDECREF(self->callable);
    Py_XDECREF(self->error_type);
    Py_XDECREF(self->error_value);
    Py_XDECREF(self->error_traceback);
    PyObject_Free(self);
}

static PyObject *
holder_getattro(Holder *self, PyObject *name)
{
    if (self->callable != NULL) {
        Py_INCREF(self->callable);
        return self->callable;
    }
    PyErr_Restore(self->error_type, self->error_value, self->error_traceback);
    self->error_type = self->error_value = self->error_traceback = NULL;
    return NULL;
}

static PyTypeObject HolderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "durable_python._resolver.Holder",
    .tp_basicsize = sizeof(Holder),
    .tp_dealloc = (destructor)holder_dealloc,
    .tp_getattro = (getattrofunc)holder_getattro,
    .tp_flags = Py_TPFLAGS_DEFAULT,
};

static PyObject *
holding(PyObject *callable)
{
    Holder *holder = PyObject_New(Holder, &HolderType);
    if (holder == NULL) {
        Py_XDECREF(callable);
        return NULL;
    }
    holder->callable = callable;
    holder->error_type = holder->error_value = holder->error_traceback = NULL;
    if (callable == NULL) {
        PyErr_Fetch(&holder->error_type, &holder->error_value, &holder->error_traceback);
    }
    return (PyObject *)holder;
}

/* True when the function found on obj's type was decided to run inline. */
static int
is_inline_function(PyObject *function)
{
    PyObject *decision = decision_of_code(PyFunction_GET_CODE(function));
    if (decision == shared_code) {
        decision = PyDict_GetItemWithError(decisions, function);
        PyErr_Clear();
    }
    return decision == Py_None;
}

static PyObject *
resolve_method(PyObject *obj, PyObject *name)
{
    PyObject *found = NULL;
    int unbound = get_method(obj, name, &found);
    if (found == NULL) {
        return holding(NULL);
    }
    if (unbound) {
        if (decisions == NULL ||
            (!is_redirected(obj) &&
             ((Py_TYPE(found) == &PyFunction_Type && is_inline_function(found)) ||
              (Py_TYPE(found) == &PyMethodDescr_Type &&
               PyDict_GetItemWithError(inline_owner_types, (PyObject *)Py_TYPE(obj)) != NULL)))) {
            Py_DECREF(found);
            Py_INCREF(obj);
            return obj;
        }
        PyErr_Clear();
        PyObject *bound = Py_TYPE(found)->tp_descr_get(found, obj, (PyObject *)Py_TYPE(obj));
        Py_DECREF(found);
        if (bound == NULL) {
            return holding(NULL);
        }
        found = bound;
    }
    PyObject *resolved = resolve_callable(found);
    Py_DECREF(found);
    if (resolved == NULL) {
        return NULL;
    }
    if (resolved == found && (unbound || PyModule_CheckExact(obj))) { /* inline, looked up twice */
        Py_DECREF(resolved);
        Py_INCREF(obj);
        return obj;
    }
    return holding(resolved);
}

/* ``__dp__(f)`` for a call of ``f``; ``__dp__(obj, "name")`` for a call of ``obj.name``. */
static PyObject *
resolve(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs == 1) {
        return resolve_callable(args[0]);
    }
    if (nargs == 2) {
        return resolve_method(args[0], args[1]);
    }
    PyErr_SetString(PyExc_TypeError, "resolve(f) or resolve(obj, name)");
    return NULL;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *new_decisions, *new_owner_types, *new_call_types, *new_redirected, *new_slow_path;
    PyObject *new_shared_code, *new_hide;
    if (!PyArg_ParseTuple(args, "O!O!O!O!OOO:configure", &PyDict_Type, &new_decisions,
                          &PyDict_Type, &new_owner_types, &PyDict_Type, &new_call_types,
                          &PyTuple_Type, &new_redirected, &new_slow_path, &new_shared_code,
                          &new_hide)) {
        return NULL;
    }
    forget_owner_methods();
    Py_INCREF(new_decisions);
    Py_INCREF(new_owner_types);
    Py_INCREF(new_call_types);
    Py_INCREF(new_redirected);
    Py_XSETREF(inline_call_types, new_call_types);
    Py_XSETREF(redirected, new_redirected);
    Py_INCREF(new_slow_path);
    Py_INCREF(new_shared_code);
    Py_INCREF(new_hide);
    Py_XSETREF(shared_code, new_shared_code);
    Py_XSETREF(without_own_frames, new_hide);
    Py_XSETREF(decisions, new_decisions);
    Py_XSETREF(inline_owner_types, new_owner_types);
    Py_XSETREF(slow_path, new_slow_path);
    Py_XSETREF(generation, PyObject_CallNoArgs((PyObject *)&PyBaseObject_Type));
    if (generation == NULL) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"resolve", (PyCFunction)(void (*)(void))resolve, METH_FASTCALL,
     "resolve(f): the callable to call in place of f; resolve(obj, name): obj itself, or an "
     "object whose every attribute is the callable to call in place of obj.name."},
    {"configure", configure, METH_VARARGS,
     "configure(decisions, inline_owner_types, inline_call_types, redirected_owners, slow_path, "
     "shared_code, without_own_frames): share resolver.py's caches and say how tracebacks lose "
     "durable-python's frames."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_resolver", "The resolver of rewritten call sites, in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__resolver(void)
{
    if (extra_index < 0) {
        extra_index = REQUEST_EXTRA_INDEX(free_extra);
        if (extra_index < 0) {
            return NULL;
        }
    }
    if (self_name == NULL && (self_name = PyUnicode_InternFromString("__self__")) == NULL) {
        return NULL;
    }
    if (PyType_Ready(&HolderType) < 0 || PyType_Ready(&HidingType) < 0) {
        return NULL;
    }
    return PyModule_Create(&module_def);
}
