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

/* repr(pf_type_lookup(type(self), name)) or NULL (no exception left set). */
static PyObject *lookup_repr(PyObject *self, const char *name)
{
    PyObject *res = NULL;
    PyObject *pyname = PyUnicode_FromString(name);               /* new ref */
    if (pyname != NULL) {
        PyObject *found = pf_type_lookup(Py_TYPE(self), pyname);   /* borrowed */
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

static PyObject *label_of_cfunction(PyObject *fn)
{
    const char *name = pf_cfunction_def(fn)->ml_name;
    PyObject *mod = pf_cfunction_module(fn);                       /* borrowed */
    PyObject *self = pf_cfunction_self(fn);                        /* borrowed */
    if (self == NULL) {
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
    PyObject *res = lookup_repr(self, name);
    if (res != NULL)
        return res;
    if (mod != NULL && PyUnicode_Check(mod))
        return PyUnicode_FromFormat("<built-in method %U.%s>", mod, name);
    return PyUnicode_FromFormat("<built-in method %s>", name);
}

PyObject *pf_native_label(PyMethodDef *def, PyObject *callable, PyObject *self_arg)
{
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *res = NULL;
    if (callable != NULL && PyCFunction_Check(callable)) {
        res = label_of_cfunction(callable);
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
    pf_exc_restore(&exc);
    return res;
}

PyObject *pf_thread_object(uint64_t ident)
{
    pf_exc exc;
    pf_exc_save(&exc);
    PyObject *found = NULL;                                          /* new ref */
    PyObject *mods = PyImport_GetModuleDict();                       /* borrowed */
    PyObject *threading = PyDict_GetItemString(mods, "threading");   /* borrowed */
    if (threading != NULL) {
        PyObject *active = PyObject_GetAttrString(threading, "_active");   /* new ref */
        if (active != NULL && PyDict_Check(active)) {
            PyObject *key = PyLong_FromUnsignedLongLong(ident);      /* new ref */
            if (key != NULL) {
                found = PyDict_GetItemWithError(active, key);        /* borrowed */
                Py_XINCREF(found);
                Py_DECREF(key);
            }
        }
        Py_XDECREF(active);
    }
    PyErr_Clear();
    pf_exc_restore(&exc);
    return found;
}
