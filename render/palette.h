/* palette.h: frame colours for the SVG flame graph.  flamegraph.pl's palettes (same
 * names and hue ranges, so graphs look familiar), a `python` palette that tells user
 * code, the standard library, third-party packages and builtins apart, and the red/blue
 * scale of differential graphs.
 *
 * Colours are a pure function of the frame name (and, for `python`, its source file):
 * the same name gets the same colour in every graph, and output is deterministic.
 */
#ifndef PF_PALETTE_H
#define PF_PALETTE_H

#include <stddef.h>
#include <stdint.h>

/* When adding a palette: add it here; pf_palette_parse/pf_palette_name follow. */
#define PF_PALETTE_LIST(X)                                                    \
    X(PF_PAL_HOT, "hot")       X(PF_PAL_MEM, "mem")       X(PF_PAL_IO, "io")  \
    X(PF_PAL_WAKEUP, "wakeup") X(PF_PAL_CHAIN, "chain")   X(PF_PAL_JAVA, "java") \
    X(PF_PAL_JS, "js")         X(PF_PAL_PERL, "perl")     X(PF_PAL_RED, "red") \
    X(PF_PAL_GREEN, "green")   X(PF_PAL_BLUE, "blue")     X(PF_PAL_AQUA, "aqua") \
    X(PF_PAL_YELLOW, "yellow") X(PF_PAL_PURPLE, "purple") X(PF_PAL_ORANGE, "orange") \
    X(PF_PAL_PYTHON, "python")

#define PF_PALETTE_ENUM_(code, name) code,
enum pf_palette { PF_PALETTE_LIST(PF_PALETTE_ENUM_) PF_PALETTE_COUNT_ };
#undef PF_PALETTE_ENUM_

/* The palette called name, or -1 if there is none. */
int pf_palette_parse(const char *name);
/* The name of a palette ("hot"), "?" when out of range. */
const char *pf_palette_name(int pal);
/* A comma-separated list of every palette name, for help and error messages. */
const char *pf_palette_names(void);

/* What the python palette colours by; pf_palette_python_kind() picks one. */
enum pf_py_kind {
    PF_PY_USER = 0,      /* the program's own code */
    PF_PY_STDLIB,        /* the standard library, <frozen ...> modules */
    PF_PY_THIRD_PARTY,   /* site-packages / dist-packages */
    PF_PY_BUILTIN,       /* C functions: <built-in ...>, <method ...> */
    PF_PY_OTHER          /* thread roots, process names, unknown */
};

/* Classifies a frame for the python palette from its display name and, when known,
 * its full source path (file may be NULL; then the path in "name (path:line)" is used). */
enum pf_py_kind pf_palette_python_kind(const char *name, size_t len, const char *file);

/* The colour of a frame as 0xRRGGBB.  name[0..len) is the frame name; file is as for
 * pf_palette_python_kind (only the python palette looks at it).  hash selects
 * flamegraph.pl's --hash behaviour (similar names get similar colours); without it
 * every name still gets a fixed but unrelated colour. */
uint32_t pf_palette_color(int pal, int hash, const char *name, size_t len, const char *file);

/* The python palette's legend: "#rrggbb", "your code", ... for the program's code, the
 * standard library, third-party packages and builtins, then NULL (pf_svg_hooks.legend).
 * Static storage. */
const char *const *pf_palette_python_legend(void);

/* Differential colour: delta in [-maxdelta, maxdelta]; growth is red, shrinkage blue,
 * white when unchanged (negate swaps red and blue). */
uint32_t pf_palette_diff_color(double delta, double maxdelta, int negate);

#endif
