/* html_escape.h: writing untrusted bytes (source text, names, paths, argv, metadata)
 * into an HTML document.  Everything a profiled program controls goes through here;
 * nothing else in the HTML renderer writes program data directly.
 */
#ifndef PF_HTML_ESCAPE_H
#define PF_HTML_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Writes s[0..len) so that it is inert both as element content and inside a
 * double- or single-quoted attribute value:
 *   - & < > " ' become character references;
 *   - invalid UTF-8 (bad lead bytes, truncated or overlong sequences, surrogates,
 *     code points above U+10FFFF) becomes U+FFFD, one per maximal invalid subpart,
 *     as the WHATWG decoder does;
 *   - C0 controls other than tab and newline become their visible Control Pictures
 *     symbol (NUL -> U+2400, ESC -> U+241B), DEL -> U+2421, C1 controls -> U+FFFD,
 *     so that no parse error or invisible text reaches the page.
 * Never fails by itself; write errors show up in ferror(out). */
void pf_html_escape(FILE *out, const char *s, size_t len);

/* Same for a NUL-terminated string; NULL writes nothing. */
void pf_html_escape_cstr(FILE *out, const char *s);

#endif
