/* names.h: labels of C functions, spelled the way cProfile spells them, so that a
 * trace converted to pstats has the same keys as cProfile's own output:
 *   "<built-in method builtins.len>", "<method 'append' of 'list' objects>".
 * Computed once per distinct function (at node creation), never per event. */
#ifndef PF_COLLECTOR_NAMES_H
#define PF_COLLECTOR_NAMES_H

#include "collector/compat.h"

/* The label of the C function def, seen as callable (a builtin function/method object,
 * or on 3.12+ a method descriptor, then self_arg is the object it is called on, or
 * NULL).  Never raises into the caller: any pending exception is saved and restored;
 * on internal failure a plain "<built-in method NAME>" is returned.  New ref, NULL
 * only when out of memory. */
PyObject *pf_native_label(PyMethodDef *def, PyObject *callable, PyObject *self_arg);

/* True if def is one of this extension's own functions (not the program's). */
int pf_native_is_ours(const PyMethodDef *def);

#endif
