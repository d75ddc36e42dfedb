/* budget.h: a decoding budget, the memory a reader may spend on what it decodes.
 *
 * Readers of untrusted input (the trace reader, and the collapsed-stack readers
 * through pf_input_budget) charge every allocation that grows with the input to a
 * pf_budget BEFORE making it, so a small file that claims a huge model is refused
 * with a message naming the option that raises the budget, instead of exhausting
 * memory first.  Fixed-size buffers (input windows, zlib state) are not charged.
 */
#ifndef PF_BUDGET_H
#define PF_BUDGET_H

#include <stddef.h>
#include <stdint.h>

/* The default budget of every reader: decoded bytes, and the decoded model's memory.
 * A trace of 10.4 M calling-context nodes needs about 0.85 GiB, so every legitimate
 * trace seen so far fits with room to spare. */
#define PF_BUDGET_DEFAULT ((uint64_t)4 << 30)

/* The command-line option that raises the budget; every budget message names it. */
#define PF_BUDGET_OPTION "--max-memory"

typedef struct pf_budget {
    uint64_t limit;      /* bytes that may be charged; 0 = unlimited */
    uint64_t used;       /* bytes charged and not released */
    uint64_t refused;    /* size of the last refused charge (0 if none): for messages */
} pf_budget;

/* Charges bytes to b (NULL: no budget).  Returns 0, or -1 when used + bytes would
 * exceed the limit: nothing is charged and b->refused records the request. */
static inline int pf_budget_charge(pf_budget *b, uint64_t bytes)
{
    if (b == NULL)
        return 0;
    if (b->limit != 0 && (bytes > b->limit || b->used > b->limit - bytes)) {
        b->refused = bytes;
        return -1;
    }
    b->used += bytes;
    return 0;
}

/* Gives back bytes charged earlier (a freed or shrunk block).  NULL-safe. */
static inline void pf_budget_release(pf_budget *b, uint64_t bytes)
{
    if (b != NULL)
        b->used = bytes < b->used ? b->used - bytes : 0;
}

/* Writes bytes as a short human size into buf ("4 GiB", "1.5 MiB", "300 bytes"):
 * exact binary units when they divide evenly, else one decimal.  Returns buf. */
char *pf_budget_format(uint64_t bytes, char *buf, size_t n);

/* Parses a size as the --max-memory option takes it: a decimal number with an
 * optional unit K, M, G, T (binary: 1024-based; "KiB", "MB", "k" ... also accepted;
 * B or no unit = bytes).  "0" means unlimited.  Returns 0, or -1 on anything else
 * (overflow included). */
int pf_budget_parse(const char *s, uint64_t *bytes);

#endif
