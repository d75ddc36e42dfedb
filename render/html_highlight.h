/* html_highlight.h: light Python syntax highlighting for the annotated source: keywords,
 * strings, comments, numbers, decorators and the names that def/class introduce.  It is
 * a lexer of one line at a time with a little state for strings that span lines, not a
 * parser: it only has to colour plausible source and stay harmless on anything else.
 */
#ifndef PF_HTML_HIGHLIGHT_H
#define PF_HTML_HIGHLIGHT_H

#include <stddef.h>
#include <stdio.h>

/* State carried from one line to the next.  Zero it at the start of each file. */
typedef struct pf_html_hl {
    char quote;          /* ' or " while inside a string continued from a previous line */
    char triple;         /* that string is triple-quoted */
    char want_name;      /* the last token was def or class */
} pf_html_hl;

/* Writes line s[0..len) (without its newline) as escaped HTML with <i class=X>
 * around tokens: k keyword, s string, c comment, n number, d decorator, f defined name,
 * b self/cls.  Every byte goes through pf_html_escape. */
void pf_html_highlight_line(FILE *out, const char *s, size_t len, pf_html_hl *st);

#endif
