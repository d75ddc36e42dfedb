/* diff_internal.h: the private state of a pf_diff, shared by diff.c (functions, lines,
 * files) and diff_stacks.c (the stack trees).  Not for use outside formats/diff*.c. */
#ifndef PF_DIFF_INTERNAL_H
#define PF_DIFF_INTERNAL_H

#include "diff.h"
#include "hashmap.h"

/* A function of one side: the key and, at finish, the medians. */
struct pf_diff_sfunc {
    uint32_t name, file, line;    /* model string ids; first line */
    int native;
    uint32_t code;                /* code index in the side's first trace, PF_NONE */
    uint32_t full_file;           /* that code's co_filename (trace string id) */
    uint32_t efile;               /* BASE: the file after renames (NEW's name) */
    uint32_t match;               /* the other side's function, PF_NONE */
    uint32_t first_line_idx, nlines;   /* its lines in lorder */
    double med[PF_DM_COUNT];
};

struct pf_diff_sline {
    uint32_t func, line;
    double med[PF_DM_COUNT];
};

struct pf_diff_run {
    double *fv;                   /* nfv x PF_DM_COUNT function values */
    uint32_t nfv;
    double *lv;                   /* nlv x PF_DM_COUNT line values */
    uint32_t nlv;
    double tot[PF_DT_COUNT];
    double *tv;                   /* several runs: self value per node of the side tree */
    uint32_t ntv, cap_tv;
};

struct pf_diff_sidedata {
    struct pf_diff_sfunc *f;
    uint32_t nf, cap_f;
    pf_hmap *fmap;
    struct pf_diff_sline *l;
    uint32_t nl, cap_l;
    pf_hmap *lmap;                /* (func << 32 | line) -> line */
    uint32_t *lorder;             /* lines by function, then line */
    struct pf_diff_run *run;
    uint32_t nruns, cap_runs;
    int has[PF_DM_COUNT], has_total[PF_DT_COUNT], has_lines;
    pf_stacktree *tree;           /* the side's stacks (several runs: their union) */
    uint32_t *src_of_str;         /* first trace: string id -> source index */
};

struct pf_diff_priv {
    struct pf_diff_sidedata side[2];
    const pf_trace *first;        /* the first trace added, which the others must match */
    char first_label[256];
    uint32_t cap_funcs, cap_lines;
    uint32_t *out_sfunc[2];       /* per output function: its side function, PF_NONE */
    int fmap_out[2];
};

/* A frame name split for matching: "func (file:line)", "file:func:line", a thread
 * "name [ident]", a process "pid N: command"; else the whole name with line 0. */
struct pf_diff_fname {
    const char *func, *file;      /* pointers into the name */
    size_t func_len, file_len;
    uint32_t line;
    const char *key;              /* the name without its line/ident/pid part */
    size_t key_len;
    int key_is_name;              /* key == the whole name */
};

void pf_diff_parse_frame_(const char *name, size_t len, struct pf_diff_fname *out);

/* Adds a run's finished stack tree to the side (owned from now on, also on error). */
int pf_diff_side_add_tree_(struct pf_diff_sidedata *sd, pf_stacktree *t, pf_error *err);
/* Builds d->stacks from the sides' trees (frees them). */
int pf_diff_stacks_(pf_diff *d, pf_error *err);

int pf_diff_grow_(void **p, uint32_t *cap, uint32_t need, size_t size);
double pf_diff_median_(double *v, uint32_t n);

#endif
