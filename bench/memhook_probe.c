/* memhook_probe.c: a bench-only extension exposing collector/memhook to Python, so that
 * bench/bench_memory.sh can measure the allocator hooks alone (no call collector) and
 * read the tracker's own numbers (peak live blocks, its memory).  Built by the bench
 * script; not part of the pyflame package.
 *
 *   import memhook_probe as p; p.start(native); ...; p.stop(); p.totals() -> dict
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "collector/memhook.h"

static PyObject *probe_start(PyObject *mod, PyObject *args)
{
    (void)mod;
    int native = 0;
    if (!PyArg_ParseTuple(args, "|p:start", &native))
        return NULL;
    if (pf_memhook_start(native) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *probe_stop(PyObject *mod, PyObject *unused)
{
    (void)mod; (void)unused;
    pf_memhook_stop();
    Py_RETURN_NONE;
}

static PyObject *probe_totals(PyObject *mod, PyObject *unused)
{
    (void)mod; (void)unused;
    const pf_memtrack *mt = pf_memhook_tracker();
    if (!mt)
        Py_RETURN_NONE;
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:i}",   /* new ref */
        "live_bytes", (unsigned long long)t.live_bytes,
        "peak_live_bytes", (unsigned long long)t.peak_live_bytes,
        "live_blocks", (unsigned long long)t.live_blocks,
        "peak_live_blocks", (unsigned long long)t.peak_live_blocks,
        "alloc_count", (unsigned long long)t.alloc_count,
        "unknown_frees", (unsigned long long)t.unknown_frees,
        "profiler_bytes", (unsigned long long)t.profiler_bytes,
        "profiler_peak_bytes", (unsigned long long)t.profiler_peak_bytes,
        "out_of_memory", t.out_of_memory);
}

static PyMethodDef probe_methods[] = {
    { "start", probe_start, METH_VARARGS,
      "start(native=False): hook the allocators (and the native ones) and start recording" },
    { "stop", probe_stop, METH_NOARGS, "stop recording" },
    { "totals", probe_totals, METH_NOARGS, "the last run's totals as a dict" },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT, "memhook_probe", NULL, -1, probe_methods, NULL, NULL, NULL, NULL
};

/* Built with -fvisibility=hidden like the collector: only the module init is exported. */
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit_memhook_probe(void);
__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit_memhook_probe(void)
{
    return PyModule_Create(&probe_module);
}
