/* html_escape.c: HTML escaping with UTF-8 validation (see html_escape.h).
 *
 * The decoder follows the Unicode "maximal subpart" rule: a lead byte starts a
 * sequence whose second byte has a lead-specific valid range (this is what rejects
 * overlongs, surrogates and code points above U+10FFFF); the sequence ends at the
 * first byte that does not fit, and everything consumed so far becomes one U+FFFD.
 * The byte that did not fit is then decoded afresh.
 */
#include "html_escape.h"

#include <stdint.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD in UTF-8 */

/* Writes the Control Pictures symbol U+2400 + c (c < 0x20) or U+2421 for DEL. */
static void put_control_picture(FILE *out, unsigned c)
{
    unsigned cp = c == 0x7F ? 0x2421u : 0x2400u + c;
    fputc((int)(0xE0 | (cp >> 12)), out);
    fputc((int)(0x80 | ((cp >> 6) & 0x3F)), out);
    fputc((int)(0x80 | (cp & 0x3F)), out);
}

/* Length of the valid UTF-8 sequence starting at s[0] (>= 0x80), or 0 with *bad set
 * to the number of bytes that form its maximal invalid subpart (at least 1). */
static size_t utf8_valid_len(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;   /* valid range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;                     /* overlong */
        else if (c == 0xED)
            hi = 0x9F;                     /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;                     /* overlong */
        else if (c == 0xF4)
            hi = 0x8F;                     /* above U+10FFFF */
    } else {
        *bad = 1;                          /* stray continuation, C0/C1 overlong lead, F5..FF */
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < len; i++) {
        unsigned char b = s[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (b < l || b > h)
            break;
    }
    if (i == need)
        return need;
    *bad = i;
    return 0;
}

void pf_html_escape(FILE *out, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0;   /* s[run..i) is pending output that needs no change */
    while (i < len) {
        unsigned char c = s[i];
        const char *rep = NULL;
        size_t adv = 1;
        if (c >= 0x80) {
            size_t bad = 0;
            size_t n = utf8_valid_len(s + i, len - i, &bad);
            if (n == 2 && c == 0xC2 && s[i + 1] < 0xA0) {
                rep = replacement;         /* C1 control U+0080..U+009F */
                adv = 2;
            } else if (n > 0) {
                i += n;
                continue;
            } else {
                rep = replacement;
                adv = bad;
            }
        } else {
            switch (c) {
            case '&':  rep = "&amp;";  break;
            case '<':  rep = "&lt;";   break;
            case '>':  rep = "&gt;";   break;
            case '"':  rep = "&quot;"; break;
            case '\'': rep = "&#39;";  break;
            case '\t': case '\n': break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    fwrite(s + run, 1, i - run, out);
                    put_control_picture(out, c);
                    i++;
                    run = i;
                    continue;
                }
            }
            if (rep == NULL) {
                i++;
                continue;
            }
        }
        fwrite(s + run, 1, i - run, out);
        fputs(rep, out);
        i += adv;
        run = i;
    }
    fwrite(s + run, 1, i - run, out);
}

void pf_html_escape_cstr(FILE *out, const char *s)
{
    if (s != NULL)
        pf_html_escape(out, s, strlen(s));
}
