/* mproc._sync._fastlock: Lock and RLock acquire (and RLock release) in C.
 *
 * The types made here subclass the C semaphore type that semlock.py hands to
 * init() (it is the one module that binds it). They add one field, a pointer to the
 * lock's shared 8-byte holder cell, and do what the Python fallback in locks.py
 * does, without a Python frame:
 *
 *   acquire: sem_trywait; on success count += 1, last thread = this one, and this
 *            process's token goes into the cell (one store, skipped when the cell
 *            already holds it). Otherwise, blocking, a short poll with growing
 *            pauses between looks (another process's critical section is usually
 *            over sooner than a futex sleep and wake-up, and a holder that
 *            re-takes the lock at once keeps it for a burst instead of handing it
 *            over on every release), then one wait slice of at most the poll
 *            interval with the GIL released (signals are checked on EINTR, so
 *            Ctrl-C interrupts it); if that slice ends without the semaphore, the
 *            rest of the wait is the Python method self._wait(remaining), which
 *            reads the holder's token between slices and recovers from a dead
 *            holder.
 *   RLock:   recursion on the semaphore object's own count and last thread, as the
 *            C type keeps them for its recursive kind, so _is_mine, _count and
 *            _after_fork keep working. Release, like Lock's, leaves the token in
 *            the cell (it names the last acquirer).
 *
 * The semaphore type's own fields (handle, last thread, count) are reached by
 * offset. init() reads the offsets of "handle" and "maxvalue" from the type's member
 * descriptors, derives the two fields between them, and then proves the layout on a
 * scratch object (an unnamed semaphore): the type's own acquire and release must
 * change exactly the fields we think they do. On any mismatch init() raises and
 * locks.py uses the pure-Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <sched.h>
#include <time.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define WAIT_CLOCK CLOCK_MONOTONIC
#define SEM_WAIT_UNTIL(h, ts) sem_clockwait((h), CLOCK_MONOTONIC, (ts))
#else
#define WAIT_CLOCK CLOCK_REALTIME
#define SEM_WAIT_UNTIL(h, ts) sem_timedwait((h), (ts))
#endif

static Py_ssize_t off_handle = -1;  /* sem_t *handle          */
static Py_ssize_t off_tid = -1;     /* unsigned long last_tid */
static Py_ssize_t off_count = -1;   /* int count              */
static Py_ssize_t off_cell = -1;    /* int64_t *cell (ours)   */
static int64_t g_token = 0;         /* this process's holder token */
static double g_poll = 0.1;         /* wait slice, seconds */
static PyObject *str_wait = NULL;   /* "_wait" */

#define HANDLE(o) (*(sem_t **)((char *)(o) + off_handle))
#define LAST_TID(o) (*(unsigned long *)((char *)(o) + off_tid))
#define COUNT(o) (*(int *)((char *)(o) + off_count))
#define CELL(o) (*(int64_t **)((char *)(o) + off_cell))

/* The token into the cell; not written when it is there already (a burst of
 * acquires by one process then only reads the cell's cache line). */
static inline void
store_cell(PyObject *self, int64_t value)
{
    int64_t *cell = CELL(self);
    if (cell != NULL && __atomic_load_n(cell, __ATOMIC_RELAXED) != value) {
        __atomic_store_n(cell, value, __ATOMIC_RELEASE);
    }
}

static inline PyObject *
granted(PyObject *self)
{
    ++COUNT(self);
    LAST_TID(self) = PyThread_get_thread_ident();
    store_cell(self, g_token);
    Py_RETURN_TRUE;
}

/* (block=True, timeout=None), positional or by keyword, as the C semaphore's own. */
static int
parse_acquire(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
              int *block, PyObject **timeout)
{
    PyObject *blockobj = NULL;
    *timeout = Py_None;
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "acquire() takes at most 2 arguments (%zd given)", nargs);
        return -1;
    }
    if (nargs >= 1) {
        blockobj = args[0];
    }
    if (nargs == 2) {
        *timeout = args[1];
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, i);
            PyObject *value = args[nargs + i];
            if (PyUnicode_CompareWithASCIIString(key, "block") == 0 && nargs < 1) {
                blockobj = value;
            }
            else if (PyUnicode_CompareWithASCIIString(key, "timeout") == 0 && nargs < 2) {
                *timeout = value;
            }
            else {
                PyErr_Format(PyExc_TypeError,
                             "acquire() got an unexpected or repeated keyword argument '%U'",
                             key);
                return -1;
            }
        }
    }
    *block = 1;
    if (blockobj != NULL) {
        int truth = PyObject_IsTrue(blockobj);
        if (truth < 0) {
            return -1;
        }
        *block = truth;
    }
    return 0;
}

static double
monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* How a contended acquire polls before it sleeps (_tune() changes them all). */
static long long g_spin_ns = 50000;         /* the whole poll, at most */
static long long g_yield_ns = 10000;        /* after this long, sched_yield between looks */
static long long g_backoff_ns = 1000;       /* pause after the first failed look ... */
static long long g_backoff_max_ns = 16000;  /* ... doubling up to this */

static inline long long
now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* 0: got it; 1: still held after budget ns; -1: error set. Reads the value (no
 * cache-line writes) and tries only when it looks free; between looks it pauses
 * for a growing while (so a holder that releases and re-takes the lock at once
 * keeps it, and its cache line, for a burst), and past g_yield_ns it yields the
 * CPU (the holder may be waiting for one). */
static int
spin_trywait(sem_t *handle, long long budget)
{
    long long t0 = now_ns();
    long long pause = g_backoff_ns;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            int value = 0;
            if (sem_getvalue(handle, &value) == 0 && value > 0) {
                if (sem_trywait(handle) == 0) {
                    return 0;
                }
                if (errno != EAGAIN && errno != EINTR) {
                    PyErr_SetFromErrno(PyExc_OSError);
                    return -1;
                }
            }
            if (pause > 0) {
                break;
            }
            cpu_relax();
        }
        long long t = now_ns();
        long long spent = t - t0;
        if (spent >= budget) {
            return 1;
        }
        if (g_yield_ns >= 0 && spent >= g_yield_ns) {
            sched_yield();
        }
        if (pause > 0) {
            long long until = t + pause;
            do {
                for (int i = 0; i < 16; i++) {
                    cpu_relax();
                }
            } while (now_ns() < until);
            pause = pause * 2 > g_backoff_max_ns ? g_backoff_max_ns : pause * 2;
            if (pause <= 0) {
                pause = 1;
            }
        }
    }
}

/* The shared body of Lock.acquire and RLock.acquire (recursion already handled). */
static PyObject *
acquire_semaphore(PyObject *self, int block, int has_timeout, double timeout)
{
    sem_t *handle = HANDLE(self);
    int res;

    do {
        res = sem_trywait(handle);
    } while (res < 0 && errno == EINTR && !PyErr_CheckSignals());
    if (res == 0) {
        return granted(self);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (errno != EAGAIN) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!block) {
        Py_RETURN_FALSE;
    }

    if (has_timeout && timeout == 0.0) {
        Py_RETURN_FALSE;
    }
    /* Held, most likely by another process: poll for a little while before
     * sleeping. A critical section is usually shorter than the futex sleep and
     * wake-up that both sides would pay otherwise (and a release with no sleeper
     * makes no system call). The GIL stays held: a few microseconds, and no thread
     * of ours is the holder (COUNT is this process's), so none needs it to release. */
    double start = monotonic_now();
    if (COUNT(self) == 0 && g_spin_ns > 0) {
        long long budget = g_spin_ns;
        if (has_timeout && timeout * 1e9 < (double)budget) {
            budget = (long long)(timeout * 1e9);
        }
        res = spin_trywait(handle, budget);
        if (res == 0) {
            return granted(self);
        }
        if (res < 0) {
            return NULL;
        }
    }
    double slice = (has_timeout && timeout < g_poll) ? timeout : g_poll;

    /* One slice with the GIL released, to an absolute deadline: on CLOCK_MONOTONIC
     * where glibc has sem_clockwait, else CLOCK_REALTIME (sem_timedwait's). */
    struct timespec deadline;
    clock_gettime(WAIT_CLOCK, &deadline);
    long long nsec = (long long)deadline.tv_nsec + (long long)(slice * 1e9);
    deadline.tv_sec += (time_t)(nsec / 1000000000LL);
    deadline.tv_nsec = (long)(nsec % 1000000000LL);
    int err;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        res = SEM_WAIT_UNTIL(handle, &deadline);
        err = errno;
        Py_END_ALLOW_THREADS
        if (res == 0) {
            return granted(self);
        }
        if (err == EINTR) {
            if (PyErr_CheckSignals()) {
                return NULL;
            }
            continue;
        }
        if (err == ETIMEDOUT) {
            break;
        }
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }

    /* The slow path: slices with holder checks and recovery, in Python. */
    PyObject *rest;
    if (has_timeout) {
        double remaining = timeout - (monotonic_now() - start);
        if (remaining <= 0.0) {
            Py_RETURN_FALSE;
        }
        rest = PyFloat_FromDouble(remaining);
        if (rest == NULL) {
            return NULL;
        }
    }
    else {
        rest = Py_NewRef(Py_None);
    }
    PyObject *result = PyObject_CallMethodOneArg(self, str_wait, rest);
    Py_DECREF(rest);
    return result;
}

static PyObject *
lock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int block;
    PyObject *timeout;
    if (nargs == 0 && kwnames == NULL) {
        block = 1;
        timeout = Py_None;
    }
    else if (parse_acquire(args, nargs, kwnames, &block, &timeout) < 0) {
        return NULL;
    }
    if (timeout == Py_None) {
        return acquire_semaphore(self, block, 0, 0.0);
    }
    /* Converted first, as the semaphore's own acquire does (a bad one is an error
     * even when the lock is free). Negative means zero. */
    double seconds = PyFloat_AsDouble(timeout);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    return acquire_semaphore(self, block, 1, seconds < 0.0 ? 0.0 : seconds);
}

static PyObject *
lock_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return acquire_semaphore(self, 1, 0, 0.0);
}

/* Held by this thread (the count first: a free lock costs no thread-ident call). */
static inline int
is_mine(PyObject *self)
{
    return COUNT(self) > 0 && LAST_TID(self) == PyThread_get_thread_ident();
}

static PyObject *
rlock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (is_mine(self)) {
        ++COUNT(self);
        Py_RETURN_TRUE;
    }
    return lock_acquire(self, args, nargs, kwnames);
}

static PyObject *
rlock_enter(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (is_mine(self)) {
        ++COUNT(self);
        Py_RETURN_TRUE;
    }
    return acquire_semaphore(self, 1, 0, 0.0);
}

static PyObject *
rlock_release(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    if (!is_mine(self)) {
        PyErr_SetString(PyExc_AssertionError,
                        "attempt to release recursive lock not owned by thread");
        return NULL;
    }
    if (COUNT(self) > 1) {
        --COUNT(self);
        Py_RETURN_NONE;
    }
    /* The token stays (it names the last acquirer), as Lock's release leaves it. */
    if (sem_post(HANDLE(self)) < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    --COUNT(self);
    Py_RETURN_NONE;
}

static PyObject *
rlock_exit(PyObject *self, PyObject *const *Py_UNUSED(args), Py_ssize_t Py_UNUSED(nargs))
{
    return rlock_release(self, NULL);
}

/* _bind_cell(view, index): the cell is view's int64 number index. The caller keeps
 * the mapping alive (the lock holds its Cells, whose page holds the memoryview). */
static PyObject *
bind_cell(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_bind_cell(view, index)");
        return NULL;
    }
    Py_ssize_t index = PyLong_AsSsize_t(args[1]);
    if (index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    if (index < 0 || (index + 1) * (Py_ssize_t)sizeof(int64_t) > view.len
            || ((uintptr_t)view.buf % sizeof(int64_t)) != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "cell index out of range or misaligned");
        return NULL;
    }
    CELL(self) = (int64_t *)view.buf + index;
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* Test hooks: the raw (count, last thread) this process keeps for the semaphore. */
static PyObject *
raw_state(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    return Py_BuildValue("(ik)", COUNT(self), LAST_TID(self));
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None): take the lock and record this process as holder."},
    {"__enter__", lock_enter, METH_NOARGS, "acquire()"},
    {"_bind_cell", (PyCFunction)(void (*)(void))bind_cell, METH_FASTCALL, NULL},
    {"_raw_state", raw_state, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef rlock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))rlock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None): take the lock, or once more if this thread has it."},
    {"__enter__", rlock_enter, METH_NOARGS, "acquire()"},
    {"release", rlock_release, METH_NOARGS, "release one level; the last clears the holder."},
    {"__exit__", (PyCFunction)(void (*)(void))rlock_exit, METH_FASTCALL, "release()"},
    {"_bind_cell", (PyCFunction)(void (*)(void))bind_cell, METH_FASTCALL, NULL},
    {"_raw_state", raw_state, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static Py_ssize_t
member_offset(PyTypeObject *type, const char *name)
{
    PyObject *descr = PyObject_GetAttrString((PyObject *)type, name);
    if (descr == NULL || !PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
        Py_XDECREF(descr);
        PyErr_Clear();
        PyErr_Format(PyExc_RuntimeError, "semaphore type has no member %s", name);
        return -1;
    }
    Py_ssize_t offset = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    return offset;
}

static int
layout_fail(const char *what)
{
    if (!PyErr_Occurred()) {
        PyErr_Format(PyExc_RuntimeError, "semaphore layout check failed: %s", what);
    }
    return -1;
}

static int
call_ok(PyObject *obj, const char *method, PyObject *arg, PyObject *expect)
{
    PyObject *res = arg ? PyObject_CallMethod(obj, method, "O", arg)
                        : PyObject_CallMethod(obj, method, NULL);
    if (res == NULL) {
        return 0;
    }
    int ok = expect == NULL || PyObject_RichCompareBool(res, expect, Py_EQ) == 1;
    Py_DECREF(res);
    return ok;
}

/* Prove the offsets on a scratch object of the semaphore type over an unnamed sem_t. */
static int
check_layout(PyTypeObject *base)
{
    Py_ssize_t off_max = member_offset(base, "maxvalue");
    if (off_max < 0 || (off_handle = member_offset(base, "handle")) < 0) {
        return -1;
    }
    off_tid = off_handle + (Py_ssize_t)sizeof(sem_t *);
    off_count = off_tid + (Py_ssize_t)sizeof(unsigned long);
    if (off_count + (Py_ssize_t)sizeof(int) != off_max
            || off_max + (Py_ssize_t)sizeof(int) > base->tp_basicsize) {
        return layout_fail("field offsets");
    }
    sem_t sem;
    if (sem_init(&sem, 0, 1) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    PyObject *obj = base->tp_alloc(base, 0);
    if (obj == NULL) {
        sem_destroy(&sem);
        return -1;
    }
    /* maxvalue 1, kind SEMAPHORE (1): what Lock is. */
    HANDLE(obj) = &sem;
    *(int *)((char *)obj + off_max) = 1;
    Py_ssize_t off_kind = member_offset(base, "kind");
    if (off_kind < 0) {
        Py_DECREF(obj);
        sem_destroy(&sem);
        return -1;
    }
    *(int *)((char *)obj + off_kind) = 1;
    int ok = 0;
    int value = -1;
    unsigned long me = PyThread_get_thread_ident();
    PyObject *handle = PyObject_GetAttrString(obj, "handle");
    PyObject *expect = PyLong_FromVoidPtr(&sem);
    PyObject *one = PyLong_FromLong(1);
    PyObject *zero = PyLong_FromLong(0);
    if (handle == NULL || expect == NULL || one == NULL || zero == NULL) {
        goto done;
    }
    if (PyObject_RichCompareBool(handle, expect, Py_EQ) != 1) {
        layout_fail("handle");
        goto done;
    }
    if (!call_ok(obj, "acquire", Py_False, Py_True) || COUNT(obj) != 1 || LAST_TID(obj) != me
            || !call_ok(obj, "_count", NULL, one) || !call_ok(obj, "_is_mine", NULL, Py_True)
            || sem_getvalue(&sem, &value) < 0 || value != 0) {
        layout_fail("acquire");
        goto done;
    }
    if (!call_ok(obj, "release", NULL, NULL) || COUNT(obj) != 0
            || !call_ok(obj, "_count", NULL, zero) || sem_getvalue(&sem, &value) < 0
            || value != 1) {
        layout_fail("release");
        goto done;
    }
    /* Our own writes must be what the type reads back. */
    COUNT(obj) = 1;
    LAST_TID(obj) = me;
    if (!call_ok(obj, "_is_mine", NULL, Py_True) || !call_ok(obj, "_after_fork", NULL, NULL)
            || COUNT(obj) != 0 || !call_ok(obj, "_is_mine", NULL, Py_False)) {
        layout_fail("count");
        goto done;
    }
    ok = 1;
done:
    Py_XDECREF(handle);
    Py_XDECREF(expect);
    Py_XDECREF(one);
    Py_XDECREF(zero);
    HANDLE(obj) = SEM_FAILED;  /*: its dealloc must not sem_close our sem_t */
    COUNT(obj) = 0;
    Py_DECREF(obj);
    sem_destroy(&sem);
    return ok ? 0 : -1;
}

static PyObject *
make_type(PyTypeObject *base, const char *name, PyMethodDef *methods)
{
    PyType_Slot slots[] = {
        {Py_tp_methods, methods},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = name,
        .basicsize = (int)(off_cell + (Py_ssize_t)sizeof(int64_t *)),
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
        .slots = slots,
    };
    PyObject *bases = PyTuple_Pack(1, (PyObject *)base);
    if (bases == NULL) {
        return NULL;
    }
    PyObject *type = PyType_FromSpecWithBases(&spec, bases);
    Py_DECREF(bases);
    return type;
}

/* init(semaphore_type, poll_interval) -> (Lock base, RLock base) */
static PyObject *
fastlock_init(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "init(semaphore_type, poll_interval)");
        return NULL;
    }
    PyTypeObject *base = (PyTypeObject *)args[0];
    double poll = PyFloat_AsDouble(args[1]);
    if (poll == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    if (!(poll > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "poll interval must be > 0");
        return NULL;
    }
    if (base->tp_itemsize != 0 || base->tp_dictoffset != 0 || base->tp_weaklistoffset != 0
            || !(base->tp_flags & Py_TPFLAGS_BASETYPE)) {
        PyErr_SetString(PyExc_RuntimeError, "unexpected semaphore type");
        return NULL;
    }
    if (check_layout(base) < 0) {
        return NULL;
    }
    g_poll = poll;
    Py_ssize_t align = (Py_ssize_t)sizeof(int64_t *);
    off_cell = (base->tp_basicsize + align - 1) / align * align;
    PyObject *lock = make_type(base, "mproc._sync._fastlock.Lock", lock_methods);
    if (lock == NULL) {
        return NULL;
    }
    PyObject *rlock = make_type(base, "mproc._sync._fastlock.RLock", rlock_methods);
    if (rlock == NULL) {
        Py_DECREF(lock);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, lock, rlock);
    Py_DECREF(lock);
    Py_DECREF(rlock);
    return result;
}

static PyObject *
fastlock_set_token(PyObject *module, PyObject *arg)
{
    long long token = PyLong_AsLongLong(arg);
    if (token == -1 && PyErr_Occurred()) {
        return NULL;
    }
    g_token = (int64_t)token;
    Py_RETURN_NONE;
}

/* _tune(spin_ns, yield_ns[, backoff_ns, backoff_max_ns]): how long a contended
 * acquire polls before it sleeps (0: it sleeps at once), after how long it yields
 * between looks (-1: never), and the pause between looks (first, largest; 0: none).
 * For tests and measurements; returns the previous four. */
static PyObject *
fastlock_tune(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "_tune(spin_ns, yield_ns[, backoff_ns, backoff_max_ns])");
        return NULL;
    }
    long long v[4] = {0, 0, g_backoff_ns, g_backoff_max_ns};
    for (Py_ssize_t i = 0; i < nargs; i++) {
        v[i] = PyLong_AsLongLong(args[i]);
        if (v[i] == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    PyObject *previous = Py_BuildValue("(LLLL)", g_spin_ns, g_yield_ns, g_backoff_ns,
                                       g_backoff_max_ns);
    if (previous != NULL) {
        g_spin_ns = v[0] < 0 ? 0 : v[0];
        g_yield_ns = v[1] < 0 ? -1 : v[1];
        g_backoff_ns = v[2] < 0 ? 0 : v[2];
        g_backoff_max_ns = v[3] < g_backoff_ns ? g_backoff_ns : v[3];
    }
    return previous;
}

static PyMethodDef module_methods[] = {
    {"_tune", (PyCFunction)(void (*)(void))fastlock_tune, METH_FASTCALL,
     "_tune(spin_ns, yield_ns[, backoff_ns, backoff_max_ns]) -> previous four"},
    {"init", (PyCFunction)(void (*)(void))fastlock_init, METH_FASTCALL,
     "init(semaphore_type, poll_interval) -> (Lock base, RLock base)"},
    {"set_token", fastlock_set_token, METH_O, "set_token(token): this process's holder token"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastlock_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mproc._sync._fastlock",
    .m_doc = "Lock and RLock acquire in C, over the C semaphore type (see locks.py).",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fastlock(void)
{
    str_wait = PyUnicode_InternFromString("_wait");
    if (str_wait == NULL) {
        return NULL;
    }
    return PyModule_Create(&fastlock_module);
}
