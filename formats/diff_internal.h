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
    double *tv;                   /* a side's earlier run: its self value per node of
                                     d->stacks (nodes added later count 0) */
    uint32_t ntv;
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
    uint32_t tree_runs;           /* runs whose stacks are in d->stacks */
    uint32_t *src_of_str;         /* first trace: string id -> source index */
};

struct pf_diff_priv {
    struct pf_diff_sidedata side[2];
    const pf_trace *first;        /* the first trace added, which the others must match */
    char first_label[256];
    uint32_t cap_funcs, cap_lines;
    uint32_t *out_sfunc[2];       /* per output function: its side function, PF_NONE */
    int fmap_out[2];
    unsigned char *nset;          /* per name of d->stacks: bit s set when side s used it */
    uint32_t cap_nset;
    uint32_t *nrank;              /* per node of d->stacks [0, n_nrank): its place in the
                                     order NEW's runs reached the nodes, or PF_NONE */
    uint32_t n_nrank, cap_nrank, nrank_next;
    int relocated;                /* some values moved to matched names */
    uint32_t *stub;               /* nstub pairs (stub, copy): each root of what vanished,
                                     left in place as a leaf holding its total, and its
                                     copy under d->vanished_node, which holds its children */
    uint32_t nstub;
    double run_total[2];          /* per column: the total of the run last added */
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

/* A run's stacks go into d->stacks (made by the first) between these two: begin saves
 * the column of each side in `sides` (bit 0 BASE, bit 1 NEW) as its last run's vector
 * and starts tracking names and visits; end matches the run's new names to the side's
 * earlier ones (moving the run's values there), records which names each side used,
 * the run's column totals (run_total) and NEW's node order (nrank).  0, or -1 with err
 * set. */
int pf_diff_stacks_begin_(pf_diff *d, int sides, pf_error *err);
int pf_diff_stacks_end_(pf_diff *d, int sides, pf_error *err);
/* Stops what begin started, after a failed run (d can then only be freed). */
void pf_diff_stacks_abort_(pf_diff *d);
/* Adds a one-column tree's values to side's column (between begin and end). */
int pf_diff_stacks_add_tree_(pf_diff *d, int side, const pf_stacktree *src, pf_error *err);
/* Finishes d->stacks: medians, BASE's names matched to NEW's, the vanished frame. */
int pf_diff_stacks_(pf_diff *d, pf_error *err);

int pf_diff_grow_(void **p, uint32_t *cap, uint32_t need, size_t size);
double pf_diff_median_(double *v, uint32_t n);

#endif
