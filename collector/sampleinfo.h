/* sampleinfo.h: the offsets and addresses `collect --sample` reads this process's
 * stacks with, from outside (cli/sampler.h), written by the process itself. */
#ifndef PF_COLLECTOR_SAMPLEINFO_H
#define PF_COLLECTOR_SAMPLEINFO_H

/* What a frame's instruction field holds (the "instr_kind" key; cli/pyoffsets.h has the
 * same values). */
enum {
    PF_INSTR_LASTI_BYTES = 0,     /* int f_lasti, a byte offset (3.8, 3.9) */
    PF_INSTR_LASTI_UNITS = 1,     /* int f_lasti, in code units (3.10) */
    PF_INSTR_PTR_PREV = 2,        /* prev_instr: the last instruction started (3.11, 3.12) */
    PF_INSTR_PTR_CURRENT = 3      /* instr_ptr: the instruction running (3.13+) */
};

/* The line table format ("linetable_kind"). */
enum {
    PF_LINETABLE_LNOTAB = 0,      /* co_lnotab (3.8, 3.9) */
    PF_LINETABLE_310 = 1,         /* co_linetable of 3.10 */
    PF_LINETABLE_LOCATIONS = 2    /* the location table of 3.11+ */
};

/* Writes "name value" lines to path (through path.tmp, renamed, so a reader never sees
 * half a file): offsets of this interpreter's structs, the main interpreter's address,
 * PyCode_Type's, the GIL's fields, main_ident; then extra (NULL: nothing), more lines
 * of the same format computed in Python (pyflame/_callops.py: which opcodes are calls,
 * for the <native> marker).  Needs the GIL.  0, or -1 (errno). */
int pf_sampleinfo_write(const char *path, unsigned long main_ident, const char *extra);

#endif
