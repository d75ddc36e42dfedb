/* sampler.c: reading Python stacks from outside and aggregating them (see sampler.h).
 *
 * A tick, per target: read the interpreter's list of thread states; per thread state,
 * one read of its fields, then one read per frame (previous, code, instruction, owner)
 * from the innermost frame outwards.  Code objects are read once and cached by
 * address (type-checked against PyCode_Type when it is known), with their names,
 * first line and line table, which turns a frame's instruction into its line locally.
 * The stack (outermost first) then descends the target's tree from the thread's root:
 * each node is (parent, code, the parent's line at the call), found in one hash map;
 * the leaf gets a self sample, and each distinct (code, line) on the stack a sample
 * (the innermost one a self sample too).  Inclusive counts are summed when the tree
 * is written out (children always come after their parent).
 *
 * Invariant: a stack is added only when every frame of it was read and checked, so
 * the tree never holds half a stack; anything else counts as lost.
 *
 * The <native> marker (pf_sampler_set_native): when the innermost Python frame's
 * instruction is a call, a C function is running (a Python callee would have a frame
 * above), and read_stack puts one more innermost entry on the stack, the target's
 * "<native>" code (a native code, made on first use, in no code map).  The opcode byte
 * is read from the target at each such sample, not cached: 3.11+ specialise
 * instructions in place.
 */
#include "cli/sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/procmem.h"
#include "formats/alloc.h"
#include "formats/hash.h"
#include "formats/hashmap.h"
#include "formats/strtab.h"

/* A code object of the target, read once. */
typedef struct scode {
    uint32_t file, name, qual;   /* string ids in the target's table */
    uint32_t first_line;
    int hidden;                  /* the launcher's own code (pf_sampler_hide): 1 its
                                    package's (dropped anywhere), 2 its bootstrap
                                    "<string>" (dropped at the root) */
    unsigned char *lt;           /* its line table (owned) */
    uint32_t ltlen;
    uint8_t kind;                /* PF_CODE_PYTHON, or PF_CODE_NATIVE for "<native>" */
    signed char bc_state;        /* its bytecode's place: 0 not looked for yet, 1 known
                                    (bc, bc_len), -1 unreadable */
    uint32_t bc_len;             /* bytes */
    uint64_t bc;                 /* remote address of its first instruction */
} scode;

/* cpu mode: stacks kept per thread while its CPU time has not grown yet (the kernel
 * updates it at its own ticks, 1-4 ms apart, or when the thread blocks); beyond that a
 * uniform sample of them is kept. */
#define PEND_MAX 64

/* 3.11+ keep a thread's frames in data-stack chunks of at least 16 KiB each (CPython's
 * DATA_STACK_CHUNK_SIZE), newest first: the sampler copies up to CHUNKS_MAX of them,
 * CHUNK_BYTES_MAX in all, in one read each. */
#define CHUNK_MIN (16 * 1024)
#define CHUNKS_MAX 4
#define CHUNK_BYTES_MAX (1024 * 1024)

typedef struct sthread {
    uint64_t ident;              /* thread_id */
    uint64_t tstate;             /* address of its thread state, last seen */
    int64_t tid;                 /* kernel thread id, -1 unknown */
    int stat_fd;                 /* /proc/PID/task/TID/schedstat for cpu mode, -1 */
    int state_fd;                /* /proc/PID/task/TID/stat for cpu mode, -1 */
    uint64_t runtime;            /* cpu mode: its CPU time (ns) as last read */
    uint64_t delay;              /* cpu mode: its time waiting for a CPU (ns), last read */
    double carry;                /* cpu mode: CPU time credited but not yet a whole
                                    sample, in intervals */
    uint32_t npend;              /* cpu mode: stacks seen running since the CPU time last
                                    grew (pend), and how many were seen in all (seen) */
    uint32_t seen;
    uint64_t seen_tick;          /* cpu mode: the target's tick it was last listed at */
    uint32_t pend[PEND_MAX][2];  /* cpu mode: (innermost node, its line) of those stacks */
    int used;                    /* some stack of it was recorded */
} sthread;

typedef struct snode {
    uint32_t parent;             /* node index or PF_NONE */
    uint32_t thread, code, call_line;
    uint64_t self;               /* samples with this node innermost */
    uint64_t total;              /* filled when written out */
} snode;

typedef struct sline {
    uint32_t code, line;
    uint64_t self, total;
    uint64_t stamp;              /* the sample that counted it last (recursion counts once) */
} sline;

typedef struct target {
    char *key;
    pid_t pid;
    int alive;
    pf_pyoffsets o;
    pf_strtab *strs;
    pf_hmap *code_map;           /* remote address -> codes index */
    scode *codes;    uint32_t ncodes, cap_codes;
    pf_hmap *thread_map;         /* ident -> threads index */
    sthread *threads; uint32_t nthreads, cap_threads;
    pf_hmap *node_map;           /* hashed (parent, thread, code, call line) -> nodes index */
    snode *nodes;    uint32_t nnodes, cap_nodes;
    pf_hmap *line_map;           /* code << 32 | line -> lines index */
    sline *lines;    uint32_t nlines, cap_lines;
    uint64_t stamp;
    uint64_t ticks, samples, lost;
    uint64_t ran_ns, waited_ns;  /* cpu mode: its threads' CPU time and waits for a CPU,
                                    as seen grow (settle_pending's estimate) */
    uint32_t native_code;        /* codes index of "<native>" + 1; 0 not made yet */
} target;

struct pf_sampler {
    unsigned hz;
    enum pf_sample_mode mode;
    target *targets; uint32_t ntargets, cap_targets;
    int denied;
    int oom;
    int native;                  /* pf_sampler_set_native */
    char *hide;                  /* outermost frames of files under this prefix are dropped */
    uint32_t weight;             /* samples one stack counts for this tick: 1, or more in
                                    wall and gil modes when the sampler was late */
    const char *names;           /* "ident\tname" file of the target being written, or NULL */
    uint64_t ticks, ticks_missed, cpu_ns, wall_ns;
    /* one stack's scratch: frames innermost first */
    uint32_t fcode[PF_SAMPLER_MAX_DEPTH], fline[PF_SAMPLER_MAX_DEPTH];
    uint32_t path[PF_SAMPLER_MAX_DEPTH];   /* count_stack's scratch: nodes, innermost first */
    uint64_t rng;                /* keep_pending's random numbers (xorshift64) */
    /* the data-stack chunks of the thread being read, copied whole (copy_chunks) */
    unsigned char *chunk_buf;
    size_t chunk_cap;
    struct { uint64_t addr, len; size_t at; } chunk[CHUNKS_MAX];
    uint32_t nchunks;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Grows *arr (elements of size sz) to hold one more; 0 or -1 (OOM). */
static int grow(void **arr, uint32_t n, uint32_t *cap, size_t sz)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap + *cap / 2 : 64;
    void *p = pf_realloc(*arr, (size_t)ncap * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

pf_sampler *pf_sampler_new(unsigned hz, enum pf_sample_mode mode)
{
    pf_sampler *s = pf_malloc(sizeof *s);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof *s);
    s->hz = hz ? hz : PF_SAMPLER_DEFAULT_HZ;
    s->weight = 1;
    s->mode = mode;
    s->rng = 0x9e3779b97f4a7c15u;
    return s;
}

void pf_sampler_set_native(pf_sampler *s, int on)
{
    s->native = on != 0;
}

static void target_free(target *t)
{
    pf_free(t->key);
    pf_strtab_free(t->strs);
    pf_hmap_free(t->code_map);
    for (uint32_t i = 0; i < t->ncodes; i++)
        pf_free(t->codes[i].lt);
    pf_free(t->codes);
    pf_hmap_free(t->thread_map);
    for (uint32_t i = 0; i < t->nthreads; i++) {
        if (t->threads[i].stat_fd >= 0)
            close(t->threads[i].stat_fd);
        if (t->threads[i].state_fd >= 0)
            close(t->threads[i].state_fd);
    }
    pf_free(t->threads);
    pf_hmap_free(t->node_map);
    pf_free(t->nodes);
    pf_hmap_free(t->line_map);
    pf_free(t->lines);
}

void pf_sampler_free(pf_sampler *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->ntargets; i++)
        target_free(&s->targets[i]);
    pf_free(s->targets);
    pf_free(s->hide);
    pf_free(s->chunk_buf);
    pf_free(s);
}

/* Closes what a retired target keeps open. */
static void retire(target *t)
{
    t->alive = 0;
    for (uint32_t i = 0; i < t->nthreads; i++) {
        if (t->threads[i].stat_fd >= 0)
            close(t->threads[i].stat_fd);
        if (t->threads[i].state_fd >= 0)
            close(t->threads[i].state_fd);
        t->threads[i].stat_fd = t->threads[i].state_fd = -1;
    }
}

int pf_sampler_add(pf_sampler *s, const char *key, pid_t pid, const pf_pyoffsets *o,
                   pf_error *err)
{
    for (uint32_t i = 0; i < s->ntargets; i++)
        if (s->targets[i].alive && s->targets[i].pid == pid)
            retire(&s->targets[i]);
    if (grow((void **)&s->targets, s->ntargets, &s->cap_targets, sizeof *s->targets) < 0)
        return pf_error_set(err, PF_ENOMEM, NULL);
    target *t = &s->targets[s->ntargets];
    memset(t, 0, sizeof *t);
    t->pid = pid;
    t->o = *o;
    t->alive = 1;
    t->strs = pf_strtab_new();
    t->code_map = pf_hmap_new(256);
    t->thread_map = pf_hmap_new(16);
    t->node_map = pf_hmap_new(1024);
    t->line_map = pf_hmap_new(1024);
    if (key != NULL)
        t->key = pf_strndup(key, strlen(key));
    if (t->strs == NULL || t->code_map == NULL || t->thread_map == NULL
        || t->node_map == NULL || t->line_map == NULL || (key != NULL && t->key == NULL)) {
        target_free(t);
        return pf_error_set(err, PF_ENOMEM, NULL);
    }
    s->ntargets++;
    return 0;
}

/* ---- reading the target ---- */

static uint64_t word_at(const unsigned char *buf, int64_t off)
{
    uint64_t v = 0;
    memcpy(&v, buf + off, sizeof(void *));
    return v;
}

static int32_t int_at(const unsigned char *buf, int64_t off)
{
    int32_t v;
    memcpy(&v, buf + off, sizeof v);
    return v;
}

/* Appends the UTF-8 encoding of c to out (at least 4 bytes of room). */
static size_t utf8(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (c >> 18 & 0x07));
    out[1] = (char)(0x80 | (c >> 12 & 0x3f));
    out[2] = (char)(0x80 | (c >> 6 & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

#define MAX_STR 1024    /* characters of a name or file name read */

/* Reads the str object at addr into the target's string table: its id, or PF_STR_NONE
 * when it cannot be read or is not a compact str. */
static uint32_t read_str(target *t, uint64_t addr)
{
    const pf_pyoffsets *o = &t->o;
    unsigned char head[128];
    if (addr == 0 || o->str_compact_size > (int64_t)sizeof head
        || pf_procmem_read(t->pid, addr, head, (size_t)o->str_compact_size) < 0)
        return PF_STR_NONE;
    int64_t len = (int64_t)word_at(head, o->str_length);
    uint32_t state;
    memcpy(&state, head + o->str_state, sizeof state);
    unsigned kind = state >> o->str_kind_bit & 7;
    int compact = state >> o->str_compact_bit & 1, ascii = state >> o->str_ascii_bit & 1;
    if (!compact || len < 0 || (kind != 1 && kind != 2 && kind != 4))
        return PF_STR_NONE;
    if (len > MAX_STR)
        len = MAX_STR;
    unsigned char raw[MAX_STR * 4];
    uint64_t data = addr + (uint64_t)(ascii ? o->str_ascii_size : o->str_compact_size);
    if (len > 0 && pf_procmem_read(t->pid, data, raw, (size_t)len * kind) < 0)
        return PF_STR_NONE;
    char out[MAX_STR * 4];
    size_t n = 0;
    for (int64_t i = 0; i < len; i++) {
        uint32_t c;
        if (kind == 1)
            c = raw[i];
        else if (kind == 2) {
            uint16_t v;
            memcpy(&v, raw + i * 2, 2);
            c = v;
        } else {
            memcpy(&c, raw + i * 4, 4);
            if (c > 0x10ffff)
                return PF_STR_NONE;
        }
        n += utf8(out + n, c);
    }
    return pf_strtab_intern(t->strs, out, n);
}

#define MAX_LINETABLE (1u << 20)

/* The code object at addr: its index in t->codes, reading it when new; PF_NONE when it
 * cannot be read or is not a code object (a torn read). */
static uint32_t code_of(pf_sampler *s, target *t, uint64_t addr)
{
    uint32_t hit = pf_hmap_get(t->code_map, addr);
    if (hit != PF_HMAP_NONE)
        return hit;
    const pf_pyoffsets *o = &t->o;
    unsigned char buf[512];
    int64_t need = o->code_firstlineno + 4;
    int64_t fields[] = { o->ob_type, o->code_filename, o->code_name, o->code_qualname,
                         o->code_linetable };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (fields[i] + 8 > need)
            need = fields[i] + 8;
    if (need > (int64_t)sizeof buf || pf_procmem_read(t->pid, addr, buf, (size_t)need) < 0)
        return PF_NONE;
    if (o->code_type != 0 && word_at(buf, o->ob_type) != o->code_type)
        return PF_NONE;
    scode c;
    memset(&c, 0, sizeof c);
    c.file = read_str(t, word_at(buf, o->code_filename));
    c.name = read_str(t, word_at(buf, o->code_name));
    c.qual = o->code_qualname >= 0 ? read_str(t, word_at(buf, o->code_qualname)) : c.name;
    if (c.qual == PF_STR_NONE)
        c.qual = c.name;
    int32_t first = int_at(buf, o->code_firstlineno);
    if (c.file == PF_STR_NONE || c.name == PF_STR_NONE || first < 0)
        return PF_NONE;
    c.first_line = (uint32_t)first;
    if (s->hide != NULL) {
        const char *f = pf_strtab_get(t->strs, c.file, NULL);
        if (f != NULL && strncmp(f, s->hide, strlen(s->hide)) == 0)
            c.hidden = 1;
        else if (f != NULL && strcmp(f, "<string>") == 0)
            c.hidden = 2;
    }
    /* the line table: a bytes object */
    uint64_t lt = word_at(buf, o->code_linetable);
    unsigned char bh[64];
    if (lt != 0 && o->bytes_sval <= (int64_t)sizeof bh
        && pf_procmem_read(t->pid, lt, bh, (size_t)o->bytes_sval) == 0) {
        uint64_t n = word_at(bh, o->bytes_size);
        if (n > 0 && n <= MAX_LINETABLE && (c.lt = pf_malloc((size_t)n)) != NULL) {
            if (pf_procmem_read(t->pid, lt + (uint64_t)o->bytes_sval, c.lt, (size_t)n) < 0) {
                pf_free(c.lt);
                c.lt = NULL;
            } else
                c.ltlen = (uint32_t)n;
        }
    }
    uint32_t *slot;
    if (grow((void **)&t->codes, t->ncodes, &t->cap_codes, sizeof *t->codes) < 0
        || (slot = pf_hmap_slot(t->code_map, addr, NULL)) == NULL) {
        pf_free(c.lt);
        s->oom = 1;
        return PF_NONE;
    }
    t->codes[t->ncodes] = c;
    *slot = t->ncodes;
    return t->ncodes++;
}

/* The line of byte offset addr (of the instruction running) in code c; its first line
 * when the table says nothing. */
static uint32_t line_of(const target *t, const scode *c, int64_t addr)
{
    const unsigned char *p = c->lt, *end = c->lt + c->ltlen;
    int64_t line = c->first_line;
    if (p == NULL || addr < 0)
        return c->first_line;
    switch (t->o.linetable_kind) {
    case PF_LINETABLE_LNOTAB: {         /* (address increment, signed line increment) */
        int64_t a = 0;
        for (; p + 1 < end; p += 2) {
            a += p[0];
            if (a > addr)
                break;
            line += (signed char)p[1];
        }
        break;
    }
    case PF_LINETABLE_310: {            /* (bytes covered, signed line delta; -128 none) */
        int64_t a = 0;
        for (; p + 1 < end; p += 2) {
            int64_t start = a;
            a += p[0];
            if ((signed char)p[1] != -128)
                line += (signed char)p[1];
            if (addr >= start && addr < a)
                return (signed char)p[1] == -128 ? c->first_line : (uint32_t)line;
        }
        break;
    }
    default: {                          /* 3.11+ location table, in code units */
        int64_t unit = addr / 2, a = 0;
        while (p < end) {
            unsigned b = *p++;
            unsigned code = b >> 3 & 15, len = (b & 7) + 1;
            int has = 1;
            if (code == 15)
                has = 0;
            else if (code == 14 || code == 13) {
                uint64_t v = 0;
                unsigned shift = 0;
                while (p < end) {                    /* signed varint, 6-bit groups */
                    unsigned x = *p++;
                    v |= (uint64_t)(x & 63) << shift;
                    shift += 6;
                    if (!(x & 64) || shift > 60)
                        break;
                }
                line += (v & 1) ? -(int64_t)(v >> 1) : (int64_t)(v >> 1);
                for (int k = 0; code == 14 && k < 3; k++)   /* end line, columns */
                    while (p < end && (*p++ & 64))
                        ;
            } else if (code >= 10) {
                line += code - 10;
                p += 2;
            } else
                p += 1;
            if (unit >= a && unit < a + len)
                return has && line >= 0 ? (uint32_t)line : c->first_line;
            a += len;
        }
        break;
    }
    }
    return line >= 0 ? (uint32_t)line : c->first_line;
}

/* ---- aggregating ---- */

struct node_key {
    const target *t;
    uint32_t parent, thread, code, call_line;
};

static int node_eq(void *ctx, uint32_t v)
{
    const struct node_key *k = ctx;
    const snode *n = &k->t->nodes[v];
    return n->parent == k->parent && n->thread == k->thread && n->code == k->code
           && n->call_line == k->call_line;
}

/* The child of parent (PF_NONE: a root of thread) for (code, call_line), made when new.
 * PF_NONE when out of memory. */
static uint32_t child(target *t, uint32_t parent, uint32_t thread, uint32_t code,
                      uint32_t call_line)
{
    struct node_key k = { t, parent, thread, code, call_line };
    uint64_t h = pf_hash_pair(((uint64_t)thread << 32) | parent, ((uint64_t)code << 32) | call_line);
    uint32_t hit = pf_hmap_find(t->node_map, h, node_eq, &k);
    if (hit != PF_HMAP_NONE)
        return hit;
    if (t->nnodes >= UINT32_MAX - 1
        || grow((void **)&t->nodes, t->nnodes, &t->cap_nodes, sizeof *t->nodes) < 0
        || pf_hmap_add(t->node_map, h, t->nnodes) < 0)
        return PF_NONE;
    snode *n = &t->nodes[t->nnodes];
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->thread = thread;
    n->code = code;
    n->call_line = call_line;
    return t->nnodes++;
}

/* Counts (code, line) once for this sample, self if innermost.  -1 when OOM. */
static int count_line(target *t, uint32_t code, uint32_t line, int innermost, uint64_t w)
{
    int inserted = 0;
    uint32_t *slot = pf_hmap_slot(t->line_map, (uint64_t)code << 32 | line, &inserted);
    if (slot == NULL)
        return -1;
    if (inserted) {
        if (grow((void **)&t->lines, t->nlines, &t->cap_lines, sizeof *t->lines) < 0) {
            *slot = PF_HMAP_NONE;     /* left unused: never found valid */
            return -1;
        }
        *slot = t->nlines;
        sline *l = &t->lines[t->nlines++];
        memset(l, 0, sizeof *l);
        l->code = code;
        l->line = line;
    }
    if (*slot == PF_HMAP_NONE)
        return -1;
    sline *l = &t->lines[*slot];
    if (l->stamp != t->stamp) {
        l->stamp = t->stamp;
        l->total += w;
    }
    if (innermost)
        l->self += w;
    return 0;
}

/* Files the stack in s->fcode/fline[0..depth) (innermost first) of thread into the
 * tree, without counting it: its innermost node, and that frame's line in *line.
 * PF_NONE when nothing of it is left to count (the launcher's frames only), or when out
 * of memory (then s->oom is set and the stack counts as lost). */
static uint32_t file_stack(pf_sampler *s, target *t, uint32_t thread, uint32_t depth,
                           uint32_t *line)
{
    uint32_t node = PF_NONE, call_line = 0;
    if (s->hide != NULL) {                /* the launcher's frames around the program */
        uint32_t cut = depth;             /* frames from cut outwards are all hidden */
        while (cut > 0 && t->codes[s->fcode[cut - 1]].hidden)
            cut--;
        uint32_t k = 0;
        for (uint32_t i = 0; i < cut; i++) {
            if (t->codes[s->fcode[i]].hidden == 1)
                continue;
            s->fcode[k] = s->fcode[i];
            s->fline[k++] = s->fline[i];
        }
        depth = k;
    }
    if (depth == 0)
        return PF_NONE;
    for (uint32_t i = depth; i-- > 0;) {
        node = child(t, node, thread, s->fcode[i], call_line);
        if (node == PF_NONE) {
            s->oom = 1;
            t->lost++;
            return PF_NONE;
        }
        call_line = s->fline[i];
    }
    *line = s->fline[0];
    return node;
}

/* Counts w samples of the filed stack whose innermost node is leaf, at line: self
 * samples of leaf, a sample of each distinct (code, line) on the stack. */
static void count_stack(pf_sampler *s, target *t, uint32_t leaf, uint32_t line, uint64_t w)
{
    if (w == 0)
        return;
    uint32_t depth = 0;                   /* the path, innermost first, in s->path */
    for (uint32_t node = leaf; node != PF_NONE && depth < PF_SAMPLER_MAX_DEPTH;
         node = t->nodes[node].parent)
        s->path[depth++] = node;
    t->stamp++;
    for (uint32_t i = depth; i-- > 0;) {  /* outermost first: lines are listed so */
        const snode *n = &t->nodes[s->path[i]];
        if (count_line(t, n->code, i == 0 ? line : t->nodes[s->path[i - 1]].call_line,
                       i == 0, w) < 0) {
            s->oom = 1;
            t->lost++;
            return;
        }
    }
    t->nodes[leaf].self += w;
    t->threads[t->nodes[leaf].thread].used = 1;
    t->samples += w;
}

/* Adds the stack in s->fcode/fline[0..depth) (innermost first) for thread, counted
 * s->weight times. */
static void add_stack(pf_sampler *s, target *t, uint32_t thread, uint32_t depth)
{
    uint32_t line = 0;
    uint32_t leaf = file_stack(s, t, thread, depth, &line);
    if (leaf != PF_NONE)
        count_stack(s, t, leaf, line, s->weight);
}

/* The index of thread ident in t, added when new (tid as found). PF_NONE on OOM. */
static void thread_gone(pf_sampler *s, target *t, sthread *th);

static uint32_t thread_of(pf_sampler *s, target *t, uint64_t ident, uint64_t tstate,
                          int64_t tid)
{
    int inserted = 0;
    uint32_t *slot = pf_hmap_slot(t->thread_map, ident, &inserted);
    if (slot == NULL)
        return PF_NONE;
    if (inserted) {
        if (grow((void **)&t->threads, t->nthreads, &t->cap_threads, sizeof *t->threads) < 0) {
            *slot = PF_HMAP_NONE;
            return PF_NONE;
        }
        *slot = t->nthreads;
        sthread *th = &t->threads[t->nthreads++];
        memset(th, 0, sizeof *th);
        th->ident = ident;
        th->tid = tid;
        th->stat_fd = -1;
        th->state_fd = -1;
    }
    if (*slot == PF_HMAP_NONE)
        return PF_NONE;
    sthread *th = &t->threads[*slot];
    th->tstate = tstate;
    if (tid > 0 && th->tid != tid) {       /* a new thread reusing an ident */
        /* threads run one after another get the same ident (pthread_t): the one that
         * ended is settled as if it had been missed */
        if (th->npend > 0)
            thread_gone(s, t, th);
        th->tid = tid;
        if (th->stat_fd >= 0)
            close(th->stat_fd);
        if (th->state_fd >= 0)
            close(th->state_fd);
        th->stat_fd = th->state_fd = -1;
    }
    return *slot;
}

/* Whether thread th is running or runnable (state R in /proc/PID/task/TID/stat). */
static int runnable(target *t, sthread *th)
{
    if (th->state_fd < 0) {
        char path[80];
        snprintf(path, sizeof path, "/proc/%d/task/%lld/stat", (int)t->pid, (long long)th->tid);
        if ((th->state_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return 0;
    }
    char buf[512];
    ssize_t n = pread(th->state_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');   /* the command may hold spaces and parentheses */
    return p != NULL && p[1] == ' ' && p[2] == 'R';
}

/* cpu mode.  A thread's samples add up to its CPU time, and each goes to a stack seen
 * while that time accrued.  The CPU time comes from /proc/PID/task/TID/schedstat (ns,
 * exact), but the kernel brings it up to date only at its own ticks (1-4 ms apart) and
 * when the thread stops running, so a tick cannot tell what the thread ran since the
 * last one.  Instead, the stacks seen at ticks where the thread was running or runnable
 * (state R) wait in th->pend; when its CPU time next grows, the growth is shared among
 * them.  A thread that waits (sleep, I/O, a lock, the GIL) is not in state R and earns
 * nothing.  One that waits for a CPU on a busy machine is in state R too, and its
 * stack does not change while it waits: the kernel adds the wait to the thread's run
 * delay (schedstat's second number) when it gets a CPU again, and as many of the oldest
 * waiting stacks as the wait lasted intervals are dropped (drop_waited), so that they
 * do not take a share of what it ran after.  When the time grew while no stack was
 * waiting (the thread ran between two ticks), the stack it is in now (where it stopped)
 * takes it. */

/* The CPU time thread th used since its last read, in sampling intervals; -1 when it
 * cannot be read (the thread is gone).  *waited: the time it waited for a CPU since,
 * in intervals. */
static double cpu_grown(pf_sampler *s, target *t, sthread *th, double *waited)
{
    *waited = 0;
    int first = 0;
    if (th->stat_fd < 0) {
        char path[80];
        snprintf(path, sizeof path, "/proc/%d/task/%lld/schedstat", (int)t->pid,
                 (long long)th->tid);
        th->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (th->stat_fd < 0)
            return -1;
        th->runtime = 0;
        th->carry = 0;
        th->npend = th->seen = 0;
        first = 1;
    }
    char buf[128];
    ssize_t n = pread(th->stat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *end;
    uint64_t now = strtoull(buf, &end, 10);
    uint64_t delay = strtoull(end, NULL, 10);
    if (first || delay < th->delay)
        th->delay = delay;
    *waited = (double)(delay - th->delay) * (double)s->hz / 1e9;
    t->waited_ns += delay - th->delay;
    th->delay = delay;
    /* A thread first seen at the target's first tick ran before the sampling began;
     * one first seen later was started since, and all its time counts. */
    if ((first && t->ticks <= 1) || now < th->runtime) {
        th->runtime = now;
        return 0;
    }
    double grown = (double)(now - th->runtime) * (double)s->hz / 1e9;
    t->ran_ns += now - th->runtime;
    th->runtime = now;
    return grown;
}

/* Drops the stacks of th seen while it waited w intervals for a CPU: the oldest waiting
 * ones (past PEND_MAX, the kept ones are a sample of those seen: as many in proportion). */
static void drop_waited(sthread *th, double w)
{
    double share = th->seen > th->npend ? (double)th->npend / th->seen : 1;
    uint32_t k = (uint32_t)(w * share + 0.5);
    if (k == 0)
        return;
    if (k >= th->npend) {
        th->npend = th->seen = 0;
        return;
    }
    memmove(th->pend, th->pend + k, (th->npend - k) * sizeof th->pend[0]);
    th->npend -= k;
    uint32_t gone = (uint32_t)(w + 0.5);   /* of those seen */
    th->seen = th->seen > th->npend + gone ? th->seen - gone : th->npend;
}

/* Counts w intervals of CPU time (whole samples; the fraction is carried to the thread's
 * next credit) for the filed stack (leaf, line) of thread th. */
static void credit(pf_sampler *s, target *t, sthread *th, uint32_t leaf, uint32_t line,
                   double w)
{
    th->carry += w;
    uint64_t n = (uint64_t)th->carry;
    th->carry -= (double)n;
    count_stack(s, t, leaf, line, n);
}

/* Shares w intervals of CPU time among the stacks of th waiting in th->pend. */
static void credit_pending(pf_sampler *s, target *t, sthread *th, double w)
{
    for (uint32_t i = 0; i < th->npend; i++)
        credit(s, t, th, th->pend[i][0], th->pend[i][1], w / th->npend);
    th->npend = th->seen = 0;
}

/* The stacks of th still waiting for CPU time when it is listed no more (the thread
 * ended) or the sampling ends: they share its last growth if it can still be read.
 * Else (the kernel's last update of an ended thread's time cannot be read) they count
 * an interval for each stack seen running or runnable, times the share of runnable
 * time the target's threads were seen to run rather than wait for a CPU: 1 on a quiet
 * machine, less on a busy one, where a runnable thread often waits. */
static void settle_pending(pf_sampler *s, target *t, sthread *th)
{
    if (th->npend == 0)
        return;
    double waited = 0, grown = th->stat_fd >= 0 ? cpu_grown(s, t, th, &waited) : -1;
    if (waited > 0)
        drop_waited(th, waited);
    if (th->npend == 0)
        return;
    if (grown <= 0) {
        double ran = (double)t->ran_ns, all = ran + (double)t->waited_ns;
        grown = (double)th->seen * (all > 0 ? ran / all : 1);
    }
    credit_pending(s, t, th, grown);
}

/* A thread listed no more: its stacks still waiting are settled, and the fraction of a
 * sample it carries is rounded (credited when at least half), not dropped: over many
 * short threads the dropped fractions add up. */
static void thread_gone(pf_sampler *s, target *t, sthread *th)
{
    uint32_t leaf = th->npend > 0 ? th->pend[th->npend - 1][0] : PF_NONE;
    uint32_t line = th->npend > 0 ? th->pend[th->npend - 1][1] : 0;
    settle_pending(s, t, th);
    if (leaf != PF_NONE && th->carry >= 0.5)
        credit(s, t, th, leaf, line, 1 - th->carry);
    th->carry = 0;
}

/* Keeps the filed stack (leaf, line) of th waiting for its CPU time; past PEND_MAX, a
 * uniform sample of the stacks seen (reservoir sampling). */
static void keep_pending(pf_sampler *s, sthread *th, uint32_t leaf, uint32_t line)
{
    uint32_t slot = th->seen++;
    if (slot >= PEND_MAX) {
        s->rng ^= s->rng << 13;           /* xorshift64 */
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        slot = (uint32_t)(s->rng % th->seen);
        if (slot >= PEND_MAX)
            return;
    } else
        th->npend++;
    th->pend[slot][0] = leaf;
    th->pend[slot][1] = line;
}

/* Makes room for used + need bytes of chunk copies.  0 or -1. */
static int chunk_room(pf_sampler *s, size_t need)
{
    if (s->chunk_cap >= need)
        return 0;
    size_t cap = s->chunk_cap ? s->chunk_cap : CHUNK_MIN;
    while (cap < need)
        cap *= 2;
    unsigned char *p = pf_realloc(s->chunk_buf, cap);
    if (p == NULL)
        return -1;
    s->chunk_buf = p;
    s->chunk_cap = cap;
    return 0;
}

/* The innermost frame of the thread whose state, at address tsaddr, was read into ts
 * (in *frame, 0 for none), and a copy of its data-stack chunks (3.11+), so that its
 * frames are read from one copy taken at one moment, not by one system call each while
 * the thread runs on: fewer torn stacks, a fraction of the sampler's CPU.  The frame
 * pointer is read again in the same system call as the newest chunk, just before it.
 * Copies fewer chunks, or none, when one cannot be read (it was just freed: the frames
 * are then read one by one).  0, or -1 when the frame pointer cannot be read. */
static int read_top(pf_sampler *s, target *t, uint64_t tsaddr, const unsigned char *ts,
                    uint64_t *frame)
{
    const pf_pyoffsets *o = &t->o;
    s->nchunks = 0;
    *frame = word_at(ts, o->ts_frame);
    uint64_t where = tsaddr + (uint64_t)o->ts_frame;   /* the word that points at it */
    if (o->cframe_current >= 0) {                       /* 3.11, 3.12: in the C frame */
        if (*frame == 0)
            return 0;
        where = *frame + (uint64_t)o->cframe_current;
    }
    uint64_t addr = 0;
    if (o->ts_datastack_chunk >= 0 && o->chunk_size >= 0 && o->chunk_previous >= 0)
        addr = word_at(ts, o->ts_datastack_chunk);
    if (addr == 0 || (addr & 7) != 0 || chunk_room(s, CHUNK_MIN) < 0)
        return o->cframe_current >= 0 ? pf_procmem_word(t->pid, where, frame) : 0;
    uint64_t top = 0;
    int r = pf_procmem_read2(t->pid, where, &top, sizeof top, addr, s->chunk_buf, CHUNK_MIN);
    if (r < 0)
        return -1;
    *frame = top;
    size_t used = 0;
    while (r == 0) {
        unsigned char *p = s->chunk_buf + used;
        uint64_t size = word_at(p, o->chunk_size), prev = word_at(p, o->chunk_previous);
        if (size < CHUNK_MIN)
            break;                       /* not a chunk: a torn read */
        uint64_t len = CHUNK_MIN;
        if (size > CHUNK_MIN && used + size <= CHUNK_BYTES_MAX && chunk_room(s, used + size) == 0
            && pf_procmem_read(t->pid, addr + CHUNK_MIN, s->chunk_buf + used + CHUNK_MIN,
                               size - CHUNK_MIN) == 0)
            len = size;
        s->chunk[s->nchunks].addr = addr;
        s->chunk[s->nchunks].len = len;
        s->chunk[s->nchunks].at = used;
        s->nchunks++;
        used += len;
        addr = prev;                     /* older frames, in the previous chunk */
        if (addr == 0 || (addr & 7) != 0 || s->nchunks == CHUNKS_MAX
            || used + CHUNK_MIN > CHUNK_BYTES_MAX || chunk_room(s, used + CHUNK_MIN) < 0)
            break;
        r = pf_procmem_read(t->pid, addr, s->chunk_buf + used, CHUNK_MIN);
    }
    return 0;
}

/* Reads len bytes of the target at addr into out: from the copied chunks when they hold
 * them, else from the target.  0 or -1. */
static int read_frame(pf_sampler *s, target *t, uint64_t addr, void *out, size_t len)
{
    for (uint32_t i = 0; i < s->nchunks; i++)
        if (addr >= s->chunk[i].addr && addr - s->chunk[i].addr <= s->chunk[i].len
            && len <= s->chunk[i].len - (addr - s->chunk[i].addr)) {
            memcpy(out, s->chunk_buf + s->chunk[i].at + (addr - s->chunk[i].addr), len);
            return 0;
        }
    return pf_procmem_read(t->pid, addr, out, len);
}

/* ---- the <native> marker ---- */

#define MAX_BYTECODE (1u << 26)

/* Finds where code c (at remote address code) keeps its bytecode: co_code_adaptive
 * inside the code object, whose ob_size counts its code units (3.11+), or the bytes
 * object co_code points to (3.8-3.10).  Sets c->bc_state. */
static void locate_bytecode(target *t, scode *c, uint64_t code)
{
    const pf_pyoffsets *o = &t->o;
    uint64_t n = 0, bytes = 0;
    c->bc_state = -1;
    if (o->code_adaptive >= 0) {
        /* ob_size: the same offset in every var-sized object as in a bytes object */
        if (pf_procmem_word(t->pid, code + (uint64_t)o->bytes_size, &n) < 0 || n > MAX_BYTECODE / 2)
            return;
        c->bc = code + (uint64_t)o->code_adaptive;
        c->bc_len = (uint32_t)(n * 2);
    } else if (o->code_code >= 0) {
        if (pf_procmem_word(t->pid, code + (uint64_t)o->code_code, &bytes) < 0 || bytes == 0
            || pf_procmem_word(t->pid, bytes + (uint64_t)o->bytes_size, &n) < 0
            || n > MAX_BYTECODE)
            return;
        c->bc = bytes + (uint64_t)o->bytes_sval;
        c->bc_len = (uint32_t)n;
    } else
        return;
    c->bc_state = 1;
}

/* Whether the instruction at byte offset addr of code c (at remote address code) is a
 * call (t->o.call_ops), its opcode read now.  Before 3.11 f_lasti stays on an
 * EXTENDED_ARG prefix while the instruction it extends runs: prefixes are stepped
 * over.  0 when unknown (unreadable, out of range). */
static int in_call(target *t, scode *c, uint64_t code, int64_t addr)
{
    const pf_pyoffsets *o = &t->o;
    if (c->bc_state == 0)
        locate_bytecode(t, c, code);
    if (c->bc_state < 0 || addr < 0 || addr % 2 != 0 || (uint64_t)addr >= c->bc_len)
        return 0;
    unsigned char unit[8];                 /* up to three prefixes and the instruction */
    size_t n = c->bc_len - (uint64_t)addr < sizeof unit ? c->bc_len - (size_t)addr : sizeof unit;
    if (pf_procmem_read(t->pid, c->bc + (uint64_t)addr, unit, n) < 0)
        return 0;
    size_t k = 0;
    while (k + 2 < n && o->extended_arg >= 0 && unit[k] == o->extended_arg)
        k += 2;
    unsigned op = unit[k];
    return o->call_ops[op >> 3] >> (op & 7) & 1;
}

/* The index of t's "<native>" code, made on first use; PF_NONE when out of memory. */
static uint32_t native_code(pf_sampler *s, target *t)
{
    if (t->native_code != 0)
        return t->native_code - 1;
    scode c;
    memset(&c, 0, sizeof c);
    c.kind = PF_CODE_NATIVE;
    c.file = pf_strtab_intern(t->strs, "", 0);
    c.name = c.qual = pf_strtab_intern_cstr(t->strs, "<native>");
    c.bc_state = -1;
    if (c.file == PF_STR_NONE || c.name == PF_STR_NONE
        || grow((void **)&t->codes, t->ncodes, &t->cap_codes, sizeof *t->codes) < 0) {
        s->oom = 1;
        return PF_NONE;
    }
    t->codes[t->ncodes] = c;
    t->native_code = ++t->ncodes;
    return t->ncodes - 1;
}

/* Reads the stack whose innermost frame is at frame into s->fcode/fline.  Its depth,
 * or -1 when torn. */
static int read_stack(pf_sampler *s, target *t, uint64_t frame)
{
    const pf_pyoffsets *o = &t->o;
    unsigned char buf[256];
    uint32_t depth = 0;
    uint32_t steps = 0;
    if (o->frame_size > (int64_t)sizeof buf)
        return -1;
    while (frame != 0) {
        if (++steps > PF_SAMPLER_MAX_DEPTH * 2 || (frame & 7) != 0)
            return -1;                   /* a cycle, or not a pointer */
        if (read_frame(s, t, frame, buf, (size_t)o->frame_size) < 0)
            return -1;
        uint64_t prev = word_at(buf, o->frame_prev);
        if (o->frame_owner >= 0 && buf[o->frame_owner] >= 3) {   /* C-stack / interpreter shim */
            frame = prev;
            continue;
        }
        uint64_t code = word_at(buf, o->frame_code) & ~(uint64_t)7;   /* 3.14: a tagged ref */
        if (code == 0 && depth == 0 && steps == 1) {
            frame = prev;                /* 3.15 clears a frame it pops: it had returned */
            continue;
        }
        if (code == 0)
            return -1;
        uint32_t ci = code_of(s, t, code);
        if (ci == PF_NONE)
            return -1;
        int64_t addr;
        switch (o->instr_kind) {
        case PF_INSTR_LASTI_BYTES: addr = int_at(buf, o->frame_instr); break;
        case PF_INSTR_LASTI_UNITS: addr = (int64_t)int_at(buf, o->frame_instr) * 2; break;
        default: {
            uint64_t ip = word_at(buf, o->frame_instr);
            addr = o->code_adaptive >= 0 ? (int64_t)(ip - (code + (uint64_t)o->code_adaptive)) : -1;
            if (addr > (1 << 26))
                addr = -1;
        }
        }
        if (depth == 0 && s->native && t->o.call_ops_known && !t->codes[ci].hidden
            && in_call(t, &t->codes[ci], code, addr)) {
            uint32_t nc = native_code(s, t);     /* innermost: the C call in progress */
            if (nc != PF_NONE) {
                s->fcode[0] = nc;
                s->fline[0] = 0;
                depth = 1;
            }
        }
        if (depth == PF_SAMPLER_MAX_DEPTH)
            return -1;
        s->fcode[depth] = ci;
        s->fline[depth] = line_of(t, &t->codes[ci], addr);
        depth++;
        frame = prev;
    }
    return (int)depth;
}

/* One tick of target t.  0, or -1 when the target is gone or unreadable. */
static int sample_target(pf_sampler *s, target *t)
{
    const pf_pyoffsets *o = &t->o;
    uint64_t ts = 0, gil_holder = 0;
    if (pf_procmem_word(t->pid, t->o.interp + (uint64_t)o->interp_threads_head, &ts) < 0) {
        if (errno == ESRCH || errno == EPERM || errno == EACCES) {
            if (errno != ESRCH && !s->denied && t->samples == 0)
                s->denied = errno;
            retire(t);
            return -1;
        }
        t->lost++;
        return 0;
    }
    if (s->mode == PF_SAMPLE_GIL) {
        int32_t locked = 0;
        if (o->gil_locked == 0 || pf_procmem_read(t->pid, o->gil_locked, &locked, sizeof locked) < 0
            || pf_procmem_word(t->pid, o->gil_holder, &gil_holder) < 0)
            return 0;
        if (!locked)
            return 0;                    /* nobody holds it: no sample this tick */
    }
    unsigned char buf[4096];
    if (o->ts_size > (int64_t)sizeof buf)
        return -1;
    for (int n = 0; ts != 0 && n < 10000; n++) {
        if (pf_procmem_read(t->pid, ts, buf, (size_t)o->ts_size) < 0) {
            t->lost++;                   /* the list changed under us */
            return 0;
        }
        uint64_t next = word_at(buf, o->ts_next);
        uint64_t ident = word_at(buf, o->ts_thread_id);
        if (s->mode == PF_SAMPLE_GIL && ts != gil_holder) {
            ts = next;
            continue;
        }
        int64_t tid = -1;
        if (o->ts_native_thread_id >= 0)
            tid = (int64_t)word_at(buf, o->ts_native_thread_id);
        else if (o->pthread_tid >= 0 && ident != 0) {
            int32_t v;
            if (pf_procmem_read(t->pid, ident + (uint64_t)o->pthread_tid, &v, sizeof v) == 0)
                tid = v;
        }
        uint32_t th = thread_of(s, t, ident, ts, tid);
        if (th == PF_NONE) {
            s->oom = 1;
            return 0;
        }
        /* cpu mode (see cpu_grown): CPU time to credit, and whether the thread runs */
        int by_cpu = s->mode == PF_SAMPLE_CPU && t->threads[th].tid > 0;
        double grown = 0, waited = 0;
        int running = 1;
        if (by_cpu) {
            sthread *st = &t->threads[th];
            st->seen_tick = t->ticks;
            grown = cpu_grown(s, t, st, &waited);
            running = grown >= 0 && runnable(t, st);
            if (waited > 0)
                drop_waited(st, waited);
            if (grown > 0 && st->npend > 0) {
                credit_pending(s, t, st, grown);
                grown = 0;
            }
            if (grown < 0 || (!running && grown == 0)) {
                ts = next;
                continue;
            }
        }
        /* a stack that changed while read is read once more */
        int depth = -1;
        for (int attempt = 0; attempt < 2 && depth < 0; attempt++) {
            uint64_t frame = 0;
            if (read_top(s, t, ts, buf, &frame) < 0)
                break;
            depth = read_stack(s, t, frame);
        }
        if (depth < 0) {
            t->lost++;
            t->threads[th].carry += grown;   /* the CPU time goes to its next stack */
        } else if (depth > 0 && by_cpu) {
            uint32_t line = 0;
            uint32_t leaf = file_stack(s, t, th, (uint32_t)depth, &line);
            if (leaf != PF_NONE && grown > 0)
                credit(s, t, &t->threads[th], leaf, line, grown);
            if (leaf != PF_NONE && running)
                keep_pending(s, &t->threads[th], leaf, line);
        } else if (depth > 0)
            add_stack(s, t, th, (uint32_t)depth);
        ts = next;
    }
    if (s->mode == PF_SAMPLE_CPU && ts == 0)      /* the whole list was read */
        for (uint32_t i = 0; i < t->nthreads; i++)
            if (t->threads[i].npend > 0 && t->threads[i].seen_tick != t->ticks)
                thread_gone(s, t, &t->threads[i]);
    return 0;
}

int pf_sampler_tick(pf_sampler *s)
{
    int live = 0;
    for (uint32_t i = 0; i < s->ntargets; i++) {
        target *t = &s->targets[i];
        if (!t->alive)
            continue;
        t->ticks++;
        if (sample_target(s, t) == 0 && t->alive)
            live++;
    }
    s->ticks++;
    return live;
}

void pf_sampler_run(pf_sampler *s, volatile int *stop, int until_idle,
                    void (*poll)(void *ctx, pf_sampler *s), void *ctx)
{
    uint64_t period = 1000000000u / s->hz;
    uint64_t start = mono_ns(), cpu0 = thread_cpu_ns();
    uint64_t next = start, next_poll = start, last = start;
    while (!*stop) {
        uint64_t now = mono_ns();
        /* A late tick (the sampler did not get a CPU in time, typically because the
         * program's threads had them) stands for the ticks it missed in wall and gil
         * modes, else busy stretches would count less than idle ones.  cpu mode counts
         * CPU time itself. */
        uint64_t late = now > last + period ? (now - last + period / 2) / period : 1;
        s->weight = s->mode == PF_SAMPLE_CPU ? 1 : (uint32_t)(late > 20 ? 20 : late);
        last = now;
        if (poll != NULL && now >= next_poll) {
            poll(ctx, s);
            next_poll = now + 20000000u;
        }
        int live = pf_sampler_tick(s);
        if (until_idle && live == 0)
            break;
        next += period;
        now = mono_ns();
        if (next + period < now) {       /* fell behind: skip, do not burst */
            s->ticks_missed += (now - next) / period;
            next = now;
        }
        struct timespec ts = { (time_t)(next / 1000000000u), (long)(next % 1000000000u) };
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !*stop)
            ;
    }
    s->wall_ns += mono_ns() - start;
    s->cpu_ns += thread_cpu_ns() - cpu0;
}

int pf_sampler_hide(pf_sampler *s, const char *prefix)
{
    pf_free(s->hide);
    s->hide = prefix ? pf_strndup(prefix, strlen(prefix)) : NULL;
    return prefix != NULL && s->hide == NULL ? -1 : 0;
}

int pf_sampler_denied(const pf_sampler *s)
{
    return s->denied;
}

void pf_sampler_get_stats(const pf_sampler *s, pf_sampler_stats *st)
{
    memset(st, 0, sizeof *st);
    st->ticks = s->ticks;
    st->ticks_missed = s->ticks_missed;
    st->cpu_ns = s->cpu_ns;
    st->wall_ns = s->wall_ns;
    for (uint32_t i = 0; i < s->ntargets; i++) {
        st->samples += s->targets[i].samples;
        st->lost += s->targets[i].lost;
    }
}

/* ---- writing out ---- */

/* The id in t of the target's string id (interned); PF_NONE on OOM. */
static uint32_t str_to(pf_trace *out, const target *t, uint32_t id)
{
    size_t len = 0;
    const char *str = pf_strtab_get(t->strs, id, &len);
    if (str == NULL)
        str = "?", len = 1;
    uint32_t r = pf_strtab_intern(out->strings, str, len);
    return r == PF_STR_NONE ? PF_NONE : r;
}

/* A thread's name: "MainThread" for the main thread, else its kernel name when it has
 * one of its own (3.14 names threads after threading's names), else "Thread-TID". */
static void thread_name(const pf_sampler *s, const target *t, const sthread *th, char *buf,
                        size_t cap)
{
    FILE *nf = s->names != NULL ? fopen(s->names, "re") : NULL;
    if (nf != NULL) {
        char line[512];
        int found = 0;
        while (!found && fgets(line, sizeof line, nf) != NULL) {
            char *tab = strchr(line, '\t');
            if (tab == NULL || strtoull(line, NULL, 10) != th->ident)
                continue;
            tab[1 + strcspn(tab + 1, "\n")] = 0;
            snprintf(buf, cap, "%s", tab + 1);
            found = 1;
        }
        fclose(nf);
        if (found)
            return;
    }
    if ((t->o.main_ident != 0 && th->ident == t->o.main_ident)
        || (t->o.main_ident == 0 && th->tid == t->pid)) {
        snprintf(buf, cap, "MainThread");
        return;
    }
    char path[80], comm[64] = "", pcomm[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%lld/comm", (int)t->pid, (long long)th->tid);
    FILE *f = th->tid > 0 ? fopen(path, "re") : NULL;
    if (f != NULL) {
        if (fgets(comm, sizeof comm, f) == NULL)
            comm[0] = 0;
        fclose(f);
    }
    snprintf(path, sizeof path, "/proc/%d/comm", (int)t->pid);
    if ((f = fopen(path, "re")) != NULL) {
        if (fgets(pcomm, sizeof pcomm, f) == NULL)
            pcomm[0] = 0;
        fclose(f);
    }
    comm[strcspn(comm, "\n")] = 0;
    pcomm[strcspn(pcomm, "\n")] = 0;
    if (comm[0] != 0 && strcmp(comm, pcomm) != 0)
        snprintf(buf, cap, "%s", comm);
    else if (th->tid > 0)
        snprintf(buf, cap, "Thread-%lld", (long long)th->tid);
    else
        snprintf(buf, cap, "Thread-%llx", (unsigned long long)th->ident);
}

/* Source of a file worth embedding (the program's, not an installed library's), read
 * through the target's root.  Appends to out; quietly does nothing otherwise. */
static void add_source(pf_trace *out, const target *t, uint32_t path_id, const char *path,
                       size_t *budget)
{
    if (path[0] != '/' || strstr(path, "/lib/python") != NULL
        || strstr(path, "/site-packages/") != NULL || strstr(path, "/dist-packages/") != NULL)
        return;
    char rooted[4200];
    snprintf(rooted, sizeof rooted, "/proc/%d/root%s", (int)t->pid, path);
    int fd = open(rooted, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size <= *budget) {
        char *text = pf_malloc((size_t)st.st_size + 1);
        ssize_t n = text ? read(fd, text, (size_t)st.st_size) : -1;
        if (n == st.st_size && pf_trace_add_source(out, path_id, text, (size_t)n) != PF_NONE)
            *budget -= (size_t)n;
        pf_free(text);
    }
    close(fd);
}

static int emit(pf_sampler *s, target *t, pf_trace *out, pf_error *err)
{
    for (uint32_t i = 0; i < t->nthreads; i++)
        thread_gone(s, t, &t->threads[i]);     /* as if every thread ended here */
    uint64_t period = 1000000000u / s->hz;
    uint32_t *code_map = NULL, *thread_map = NULL, *node_map = NULL, *kids = NULL,
             *next = NULL, *stack = NULL;
    int rc = -1;
    size_t nalloc = (size_t)(t->ncodes + t->nthreads + 3 * t->nnodes + 1) * sizeof(uint32_t);
    uint32_t *all = pf_malloc(nalloc);
    if (all == NULL)
        goto oom;
    code_map = all;
    thread_map = code_map + t->ncodes;
    node_map = thread_map + t->nthreads;
    kids = node_map + t->nnodes;
    next = kids + t->nnodes;
    uint32_t nroots_cap = t->nnodes + 1;
    stack = pf_malloc(nroots_cap * sizeof *stack);
    if (stack == NULL)
        goto oom;
    /* codes and their files' sources */
    size_t src_budget = 64u << 20;
    uint32_t first_source = out->nsources;
    for (uint32_t i = 0; i < t->ncodes; i++) {
        const scode *c = &t->codes[i];
        pf_code pc = { .kind = c->kind, .first_line = c->first_line };
        if ((pc.file = str_to(out, t, c->file)) == PF_NONE
            || (pc.name = str_to(out, t, c->name)) == PF_NONE
            || (pc.qualname = str_to(out, t, c->qual)) == PF_NONE
            || (code_map[i] = pf_trace_add_code(out, &pc)) == PF_NONE)
            goto oom;
        int have = 0;
        for (uint32_t k = first_source; k < out->nsources && !have; k++)
            have = out->sources[k].path == pc.file;
        for (uint32_t k = 0; k < i && !have; k++)
            have = t->codes[k].file == c->file;
        if (!have)
            add_source(out, t, pc.file, pf_trace_str(out, pc.file), &src_budget);
    }
    /* threads: those the collector registered keep their names */
    for (uint32_t i = 0; i < t->nthreads; i++) {
        const sthread *th = &t->threads[i];
        thread_map[i] = PF_NONE;
        if (!th->used)
            continue;
        for (uint32_t k = 0; k < out->nthreads; k++)
            if (out->threads[k].ident == th->ident)
                thread_map[i] = k;
        if (thread_map[i] != PF_NONE)
            continue;
        char name[80];
        thread_name(s, t, th, name, sizeof name);
        pf_thread pt = { .ident = th->ident, .name = pf_strtab_intern_cstr(out->strings, name) };
        if (pt.name == PF_STR_NONE || (thread_map[i] = pf_trace_add_thread(out, &pt)) == PF_NONE)
            goto oom;
    }
    if (out->nprocesses == 1) {
        out->processes[0].first_thread = 0;
        out->processes[0].nthreads = out->nthreads;
    }
    /* inclusive counts: children come after their parent */
    for (uint32_t i = 0; i < t->nnodes; i++)
        t->nodes[i].total = t->nodes[i].self;
    for (uint32_t i = t->nnodes; i-- > 0;)
        if (t->nodes[i].parent != PF_NONE)
            t->nodes[t->nodes[i].parent].total += t->nodes[i].total;
    /* nodes in pre-order: child lists (reversed, then walked from the stack's top) */
    for (uint32_t i = 0; i < t->nnodes; i++)
        kids[i] = next[i] = PF_NONE;
    uint32_t roots = PF_NONE;
    for (uint32_t i = t->nnodes; i-- > 0;) {
        uint32_t p = t->nodes[i].parent;
        uint32_t *head = p == PF_NONE ? &roots : &kids[p];
        next[i] = *head;
        *head = i;
    }
    uint32_t sp = 0;
    for (uint32_t r = roots; r != PF_NONE; r = next[r])
        stack[sp++] = r;
    /* reverse so the first root comes out first */
    for (uint32_t a = 0, b = sp; a + 1 < b; a++, b--) {
        uint32_t x = stack[a];
        stack[a] = stack[b - 1];
        stack[b - 1] = x;
    }
    if (pf_trace_reserve_nodes(out, out->nnodes + t->nnodes) < 0)
        goto oom;
    while (sp > 0) {
        uint32_t i = stack[--sp];
        const snode *n = &t->nodes[i];
        if (n->total == 0)
            continue;                     /* cpu mode: filed, never credited (nor below) */
        pf_node pn = {
            .parent = n->parent == PF_NONE ? PF_NONE : node_map[n->parent],
            .thread = thread_map[n->thread], .code = code_map[n->code],
            .call_line = n->call_line, .calls = n->self,
            .total_ns = n->total * period, .self_ns = n->self * period,
        };
        if ((node_map[i] = pf_trace_add_node(out, &pn)) == PF_NONE)
            goto oom;
        uint32_t mark = sp;
        for (uint32_t c = kids[i]; c != PF_NONE; c = next[c])
            stack[sp++] = c;
        for (uint32_t a = mark, b = sp; a + 1 < b; a++, b--) {
            uint32_t x = stack[a];
            stack[a] = stack[b - 1];
            stack[b - 1] = x;
        }
    }
    for (uint32_t i = 0; i < t->nlines; i++) {
        const sline *l = &t->lines[i];
        if (t->codes[l->code].kind == PF_CODE_NATIVE)
            continue;                   /* a C call has no lines (as in call mode) */
        pf_line pl = { .code = code_map[l->code], .line = l->line, .hits = l->total,
                       .total_ns = l->total * period, .self_ns = l->self * period };
        if (pf_trace_add_line(out, &pl) == PF_NONE)
            goto oom;
    }
    out->meta.modes = (out->meta.modes & ~(uint32_t)(PF_MODE_CALLS | PF_MODE_MEMORY | PF_MODE_NATIVE))
                      | PF_MODE_SAMPLES | PF_MODE_LINES;
    out->meta.total_calls = t->samples;
    out->meta.sample_interval_ns = period;
    out->meta.sample_mode = (uint32_t)s->mode;
    out->meta.sample_ticks = t->ticks;
    out->meta.samples_lost = t->lost;
    if (out->nprocesses == 1)
        out->processes[0].calls = t->samples;
    rc = 0;
    goto done;
oom:
    pf_error_set(err, PF_ENOMEM, "out of memory writing the samples");
done:
    pf_free(all);
    pf_free(stack);
    return rc;
}

int pf_sampler_graft(pf_sampler *s, const char *key, const char *names, pf_trace *t,
                     pf_error *err)
{
    for (uint32_t i = 0; i < s->ntargets; i++)
        if (s->targets[i].key != NULL && strcmp(s->targets[i].key, key) == 0) {
            s->names = names;
            int rc = emit(s, &s->targets[i], t, err);
            s->names = NULL;
            return rc < 0 ? -1 : 1;
        }
    return 0;
}

/* Reads /proc/PID/NAME into buf (cap bytes, NUL-terminated); its length or -1. */
static ssize_t proc_file(pid_t pid, const char *name, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = 0;
    return n;
}

pf_trace *pf_sampler_proc_trace(pid_t pid, uint32_t version_hex, pf_error *err)
{
    pf_trace *out = pf_trace_new();
    if (out == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    pf_meta *m = &out->meta;
    char buf[65536], ver[32];
    unsigned v = version_hex;
    snprintf(ver, sizeof ver, "%u.%u.%u", v >> 24 & 0xff, v >> 16 & 0xff, v >> 8 & 0xff);
    int bad = pf_meta_set_str(&m->python_version, ver) < 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
        bad |= pf_meta_set_str(&m->python_executable, buf) < 0;
    }
    snprintf(path, sizeof path, "/proc/%d/cwd", (int)pid);
    if ((n = readlink(path, buf, sizeof buf - 1)) > 0) {
        buf[n] = 0;
        bad |= pf_meta_set_str(&m->cwd, buf) < 0;
    }
    /* argv: the command line after the interpreter */
    if ((n = proc_file(pid, "cmdline", buf, sizeof buf)) > 0) {
        int k = 0;
        for (char *p = buf; p < buf + n; p += strlen(p) + 1, k++)
            if (k > 0)
                bad |= pf_meta_push_str(&m->argv, &m->argc, p) < 0;
    }
    if (gethostname(buf, 256) == 0) {
        buf[255] = 0;
        bad |= pf_meta_set_str(&m->hostname, buf) < 0;
    }
    bad |= pf_meta_set_str(&m->clock, "CLOCK_MONOTONIC") < 0;
    /* sys.path is not read: the script's folder and the standard library's (PREFIX/lib/
     * pythonX.Y beside PREFIX/bin/pythonX) keep reports' file names short */
    if (m->cwd != NULL)
        bad |= pf_meta_push_str(&m->path, &m->npath, m->cwd) < 0;
    if (m->python_executable != NULL) {
        const char *slash = strrchr(m->python_executable, '/');
        size_t dir = slash ? (size_t)(slash - m->python_executable) : 0;
        if (dir >= 4 && strncmp(m->python_executable + dir - 4, "/bin", 4) == 0) {
            snprintf(buf, sizeof buf, "%.*s/lib/python%u.%u", (int)(dir - 4),
                     m->python_executable, v >> 24 & 0xff, v >> 16 & 0xff);
            bad |= pf_meta_push_str(&m->path, &m->npath, buf) < 0;
        }
    }
    m->pid = (uint64_t)pid;
    if (bad) {
        pf_trace_free(out);
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    return out;
}

int pf_sampler_emit_first(pf_sampler *s, pf_trace *out, pf_error *err)
{
    if (s->ntargets == 0)
        return pf_error_set(err, PF_EUSAGE, "no process was sampled");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    out->meta.duration_ns = s->wall_ns;
    out->meta.start_unix_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - (int64_t)s->wall_ns;
    return emit(s, &s->targets[0], out, err);
}
