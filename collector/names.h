/* names.h: labels of C functions, spelled the way cProfile spells them, so that a
 * trace converted to pstats has the same keys as cProfile's own output:
 *   "<built-in method builtins.len>", "<method 'append' of 'list' objects>",
 * computed once per distinct function (at node creation), never per event; and the
 * one lookup of a thread's threading.Thread object (for its name). */
#ifndef PF_COLLECTOR_NAMES_H
#define PF_COLLECTOR_NAMES_H

#include "collector/compat.h"

/* The label of the C function def, seen as callable (a builtin function/method object,
 * or on 3.12+ a method descriptor, then self_arg is the object it is called on, or
 * NULL).  Never raises into the caller: any pending exception is saved and restored;
 * on internal failure a plain "<built-in method NAME>" is returned.  New ref, NULL
 * only when out of memory. */
PyObject *pf_native_label(PyMethodDef *def, PyObject *callable, PyObject *self_arg);

/* The threading.Thread object of the thread with this ident (threading._active), if
 * threading is imported and knows it.  Never raises: a pending exception is saved and
 * restored.  New ref, or NULL. */
PyObject *pf_thread_object(uint64_t ident);

#endif
