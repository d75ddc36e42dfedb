/* html_highlight.c: a one-line-at-a-time Python lexer for colouring (see the header).
 * Bytes >= 0x80 count as identifier characters, so a multi-byte UTF-8 sequence (or an
 * invalid one) is never split between two tokens and escapes to the same text as the
 * unhighlighted line would. */
#include "html_highlight.h"

#include <string.h>

#include "html_escape.h"

static const char *const keywords[] = {
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
    "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
    "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise",
    "return", "try", "while", "with", "yield",
};

static int is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_ident(unsigned char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

static int is_keyword(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], s, n) == 0)
            return 1;
    return 0;
}

static int is_string_prefix(const char *s, size_t n)
{
    if (n == 0 || n > 2)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("rRbBuUfF", s[i]))
            return 0;
    return 1;
}

static void span(FILE *out, const char *cls, const char *s, size_t n)
{
    if (n == 0)
        return;
    /* <i class=k> rather than <span class="k">: a third of the bytes on every token. */
    fprintf(out, "<i class=%s>", cls);
    pf_html_escape(out, s, n);
    fputs("</i>", out);
}

/* Scans a string body from s[i] (after the opening quote) for its end.  Returns the
 * index after the closing quote, or len with st->quote left set when the string goes
 * on to the next line. */
static size_t string_end(const char *s, size_t len, size_t i, pf_html_hl *st)
{
    while (i < len) {
        if (s[i] == '\\') {
            i += 2;
            continue;
        }
        if (s[i] == st->quote) {
            if (!st->triple) {
                st->quote = 0;
                return i + 1;
            }
            if (i + 2 < len && s[i + 1] == st->quote && s[i + 2] == st->quote) {
                st->quote = 0;
                return i + 3;
            }
        }
        i++;
    }
    /* A one-quote string ends with its line unless the line ends in a backslash. */
    if (!st->triple && !(len > 0 && s[len - 1] == '\\' && (len < 2 || s[len - 2] != '\\')))
        st->quote = 0;
    return len;
}

void pf_html_highlight_line(FILE *out, const char *s, size_t len, pf_html_hl *st)
{
    size_t i = 0, plain = 0;   /* s[plain..i) is text without a class */
    if (st->quote) {
        size_t e = string_end(s, len, 0, st);
        span(out, "s", s, e);
        i = plain = e;
    }
    /* A decorator: '@' first on the line (after indentation) up to the end of its name. */
    size_t ind = i;
    while (ind < len && (s[ind] == ' ' || s[ind] == '\t'))
        ind++;
    if (i == 0 && ind < len && s[ind] == '@') {
        size_t e = ind + 1;
        while (e < len && (is_ident((unsigned char)s[e]) || s[e] == '.'))
            e++;
        pf_html_escape(out, s, ind);
        span(out, "d", s + ind, e - ind);
        i = plain = e;
    }
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t start = i;
        const char *cls = NULL;
        if (c == '#') {
            i = len;
            cls = "c";
        } else if (c == '"' || c == '\'') {
            st->quote = (char)c;
            st->triple = i + 2 < len && s[i + 1] == (char)c && s[i + 2] == (char)c;
            i = string_end(s, len, i + (st->triple ? 3 : 1), st);
            cls = "s";
        } else if (is_ident_start(c)) {
            while (i < len && is_ident((unsigned char)s[i]))
                i++;
            if (i < len && (s[i] == '"' || s[i] == '\'') && is_string_prefix(s + start, i - start)) {
                char q = s[i];
                st->quote = q;
                st->triple = i + 2 < len && s[i + 1] == q && s[i + 2] == q;
                i = string_end(s, len, i + (st->triple ? 3 : 1), st);
                cls = "s";
            } else if (st->want_name) {
                cls = "f";
            } else if (is_keyword(s + start, i - start)) {
                cls = "k";
            } else if ((i - start == 4 && memcmp(s + start, "self", 4) == 0)
                       || (i - start == 3 && memcmp(s + start, "cls", 3) == 0)) {
                cls = "b";
            }
            st->want_name = (i - start == 3 && memcmp(s + start, "def", 3) == 0)
                            || (i - start == 5 && memcmp(s + start, "class", 5) == 0);
            if (cls && cls[0] == 'f')
                st->want_name = 0;
        } else if ((c >= '0' && c <= '9')
                   || (c == '.' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')) {
            int hex = c == '0' && i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X');
            i++;
            while (i < len) {
                char d = s[i];
                if ((d == '+' || d == '-') && !hex && (s[i - 1] == 'e' || s[i - 1] == 'E'))
                    i++;
                else if (is_ident((unsigned char)d) || d == '.')
                    i++;
                else
                    break;
            }
            cls = "n";
        } else {
            if (c != ' ' && c != '\t')
                st->want_name = 0;
            i++;
            continue;
        }
        if (cls == NULL)
            continue;              /* a plain identifier stays in the plain run */
        pf_html_escape(out, s + plain, start - plain);
        span(out, cls, s + start, i - start);
        plain = i;
    }
    pf_html_escape(out, s + plain, len - plain);
}
