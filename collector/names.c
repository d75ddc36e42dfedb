/* names.c: cProfile-compatible labels for C functions (see names.h and
 * PSTATS_FORMAT.md section 1.1).  The rules, as _lsprof applies them:
 *   - a builtin with no self: "<NAME>", or "<MODULE.NAME>" when its module is not builtins;
 *   - a builtin with a self (module functions have the module as self): the repr of
 *     what type(self) has under that name (a method descriptor's repr reads
 *     "<method 'append' of 'list' objects>"), else "<built-in method MODULE.NAME>",
 *     else "<built-in method NAME>".
 * On 3.12+ cProfile binds method descriptors to their object first, which gives a
 * builtin whose self is that object and whose module is unset; we do the same lookup
 * without creating the bound method. */
#include "collector/names.h"

#if PY_VERSION_HEX >= 0x030C0000
#define SAVE_EXC(v) PyObject *v = PyErr_GetRaisedException()
#define RESTORE_EXC(v) PyErr_SetRaisedException(v)
#else
#define SAVE_EXC(v) PyObject *v##_t, *v##_v, *v##_tb; PyErr_Fetch(&v##_t, &v##_v, &v##_tb)
#define RESTORE_EXC(v) PyErr_Restore(v##_t, v##_v, v##_tb)
#endif

/* repr(_PyType_Lookup(type(self), name)) or NULL (no exception left set). */
static PyObject *lookup_repr(PyObject *self, const char *name)
{
    PyObject *res = NULL;
    PyObject *pyname = PyUnicode_FromString(name);               /* new ref */
    if (pyname != NULL) {
        PyObject *found = _PyType_Lookup(Py_TYPE(self), pyname);   /* borrowed */
        if (found != NULL) {
            Py_INCREF(found);
            res = PyObject_Repr(found);                              /* new ref */
            Py_DECREF(found);
        }
        Py_DECREF(pyname);
    }
    if (res == NULL)
        PyErr_Clear();
    return res;
}

static PyObject *label_of_cfunction(PyCFunctionObject *fn)
{
    const char *name = fn->m_ml->ml_name;
    PyObject *mod = fn->m_module;                                  /* borrowed */
    if (fn->m_self == NULL) {
        PyObject *modname = NULL;                                  /* new ref */
        if (mod != NULL && PyUnicode_Check(mod)) {
            Py_INCREF(mod);
            modname = mod;
        } else if (mod != NULL && PyModule_Check(mod)) {
            modname = PyModule_GetNameObject(mod);
            if (modname == NULL)
                PyErr_Clear();
        }
        PyObject *res = NULL;
        if (modname != NULL && PyUnicode_CompareWithASCIIString(modname, "builtins") != 0)
            res = PyUnicode_FromFormat("<%U.%s>", modname, name);
        else
            res = PyUnicode_FromFormat("<%s>", name);
        Py_XDECREF(modname);
        return res;
    }
    PyObject *res = lookup_repr(fn->m_self, name);
    if (res != NULL)
        return res;
    if (mod != NULL && PyUnicode_Check(mod))
        return PyUnicode_FromFormat("<built-in method %U.%s>", mod, name);
    return PyUnicode_FromFormat("<built-in method %s>", name);
}

PyObject *pf_native_label(PyMethodDef *def, PyObject *callable, PyObject *self_arg)
{
    SAVE_EXC(exc);
    PyObject *res = NULL;
    if (callable != NULL && PyCFunction_Check(callable)) {
        res = label_of_cfunction((PyCFunctionObject *)callable);
    } else if (callable != NULL && Py_IS_TYPE(callable, &PyMethodDescr_Type)) {
        if (self_arg != NULL)
            res = lookup_repr(self_arg, def->ml_name);
        if (res == NULL)
            res = PyObject_Repr(callable);
    }
    if (res == NULL) {
        PyErr_Clear();
        res = PyUnicode_FromFormat("<built-in method %s>", def->ml_name);
        if (res == NULL)
            PyErr_Clear();
    }
    RESTORE_EXC(exc);
    return res;
}
