/* json.c: the JSON writer and the bounded JSON parser (see json.h).
 *
 * The parser is recursive descent over the whole text in memory.  Recursion depth is
 * the nesting depth, capped at PF_JSON_MAX_DEPTH; every allocation is charged to a
 * byte counter checked against the caller's cap before it is made, so the model can
 * never outgrow the budget whatever the input (a "[[[[..." or a million-member object
 * fails cleanly).  Arrays and objects grow by doubling, so the charge is at most twice
 * what they hold. */
#include "formats/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/alloc.h"

/* ---- writer ------------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at p[0..n) (1-4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    if (len == 3) {
        unsigned v = (c & 0x0f) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
        if (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))
            return 0;
    } else if (len == 4) {
        unsigned v = (c & 0x07) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 | (p[3] & 0x3fu);
        if (v < 0x10000 || v > 0x10ffff)
            return 0;
    }
    return len;
}

void pf_json_write_str(FILE *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    putc('"', out);
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c == '"' || c == '\\') {
            putc('\\', out);
            putc((int)c, out);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            i++;
        } else {
            size_t len = utf8_len(p + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", out);
                i++;
            } else {
                fwrite(p + i, 1, len, out);
                i += len;
            }
        }
    }
    putc('"', out);
}

void pf_json_write_num(FILE *out, double v)
{
    if (!isfinite(v))
        v = 0;
    if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        fprintf(out, "%.0f", v);
        return;
    }
    char buf[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, out);
}

/* ---- parser ------------------------------------------------------------------------ */

struct parser {
    const unsigned char *s;
    size_t len, pos;
    uint64_t used, max;
    pf_error *err;
};

static int fail(struct parser *p, const char *what)
{
    if (p->pos >= p->len)
        return pf_error_set(p->err, PF_EPARSE, "%s at the end of the JSON text (offset %zu): "
                            "truncated?", what, p->pos);
    return pf_error_set(p->err, PF_EPARSE, "%s at offset %zu of the JSON text", what, p->pos);
}

/* Charges n bytes to the model; -1 with err set when over the cap. */
static int charge(struct parser *p, size_t n)
{
    p->used += n;
    if (p->max && p->used > p->max)
        return pf_error_set(p->err, PF_ELIMIT, "the JSON document needs more than its "
                            "%llu-byte memory budget at offset %zu (raise it with "
                            "--max-memory)", (unsigned long long)p->max, p->pos);
    return 0;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static void free_value(pf_json *v)
{
    if (v->type == PF_JSON_STRING) {
        pf_free(v->str);
    } else if (v->type == PF_JSON_ARRAY || v->type == PF_JSON_OBJECT) {
        for (uint32_t i = 0; i < v->n; i++) {
            free_value(&v->items[i]);
            if (v->keys)
                pf_free(v->keys[i]);
        }
        pf_free(v->items);
        pf_free(v->keys);
    }
    memset(v, 0, sizeof *v);
}

static int hex4(struct parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = p->s[p->pos++], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return fail(p, "bad hex digit in a \\u escape");
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f)); return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses the string at p->pos (at its opening quote) into a new buffer: *out, *n.
 * The decoded text is never longer than the encoded one. */
static int parse_string(struct parser *p, char **out, uint32_t *n)
{
    size_t start = ++p->pos, end = start;
    while (end < p->len && p->s[end] != '"') {
        if (p->s[end] == '\\')
            end++;
        end++;
    }
    if (end >= p->len) {
        p->pos = p->len;
        return fail(p, "unterminated string");
    }
    if (end - start > UINT32_MAX - 1) {
        return fail(p, "string too long");
    }
    if (charge(p, end - start + 1) < 0)
        return -1;
    char *buf = pf_malloc(end - start + 1);
    if (buf == NULL)
        return pf_error_set(p->err, PF_ENOMEM, NULL);
    size_t k = 0;
    while (p->pos < end) {
        unsigned char c = p->s[p->pos];
        if (c < 0x20) {
            pf_free(buf);
            return fail(p, "control character in a string");
        }
        if (c != '\\') {
            buf[k++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        c = p->s[p->pos++];
        switch (c) {
        case '"': case '\\': case '/': buf[k++] = (char)c; break;
        case 'b': buf[k++] = '\b'; break;
        case 'f': buf[k++] = '\f'; break;
        case 'n': buf[k++] = '\n'; break;
        case 'r': buf[k++] = '\r'; break;
        case 't': buf[k++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, &cp) < 0) {
                pf_free(buf);
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff && p->pos + 6 <= end && p->s[p->pos] == '\\' &&
                p->s[p->pos + 1] == 'u') {
                size_t save = p->pos;
                p->pos += 2;
                if (hex4(p, &lo) < 0) {
                    pf_free(buf);
                    return -1;
                }
                if (lo >= 0xdc00 && lo <= 0xdfff)
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                else
                    p->pos = save;
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd;          /* a lone surrogate: not text */
            k += put_utf8(buf + k, cp);   /* 6 input bytes give at most 3 (12 give 4) */
            break;
        }
        default:
            pf_free(buf);
            p->pos--;
            return fail(p, "bad escape in a string");
        }
    }
    buf[k] = '\0';
    p->pos = end + 1;
    *out = buf;
    *n = (uint32_t)k;
    return 0;
}

static int parse_value(struct parser *p, pf_json *v, int depth);

static int grow(struct parser *p, pf_json *v, uint32_t *cap, int with_keys)
{
    if (v->n < *cap)
        return 0;
    if (*cap >= UINT32_MAX / 2)
        return fail(p, "too many items");
    uint32_t ncap = *cap ? *cap * 2 : 4;
    if (charge(p, (size_t)(ncap - *cap) * (sizeof(pf_json) + (with_keys ? sizeof(char *) : 0))) < 0)
        return -1;
    pf_json *items = pf_reallocarray(v->items, ncap, sizeof *items);
    if (items == NULL)
        return pf_error_set(p->err, PF_ENOMEM, NULL);
    v->items = items;
    if (with_keys) {
        char **keys = pf_reallocarray(v->keys, ncap, sizeof *keys);
        if (keys == NULL)
            return pf_error_set(p->err, PF_ENOMEM, NULL);
        v->keys = keys;
    }
    *cap = ncap;
    return 0;
}

static int parse_container(struct parser *p, pf_json *v, int depth, int object)
{
    char close = object ? '}' : ']';
    v->type = object ? PF_JSON_OBJECT : PF_JSON_ARRAY;
    uint32_t cap = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (grow(p, v, &cap, object) < 0)
            return -1;
        pf_json *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (object) {
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "expected a member name");
            uint32_t kn;
            if (parse_string(p, &v->keys[v->n], &kn) < 0)
                return -1;
            v->n++;                 /* the key is owned from here on */
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "expected ':'");
            p->pos++;
            if (parse_value(p, item, depth + 1) < 0)
                return -1;
        } else {
            v->n++;
            if (parse_value(p, item, depth + 1) < 0)
                return -1;
        }
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_number(struct parser *p, pf_json *v)
{
    size_t i = p->pos;
    if (i < p->len && p->s[i] == '-')
        i++;
    size_t digits = i;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
        i++;
    if (i == digits)
        return fail(p, "bad number");
    if (i < p->len && p->s[i] == '.') {
        size_t f = ++i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
        if (i == f)
            return fail(p, "bad number");
    }
    if (i < p->len && (p->s[i] == 'e' || p->s[i] == 'E')) {
        i++;
        if (i < p->len && (p->s[i] == '+' || p->s[i] == '-'))
            i++;
        size_t e = i;
        while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            i++;
        if (i == e)
            return fail(p, "bad number");
    }
    char buf[64];
    size_t n = i - p->pos;
    if (n >= sizeof buf)
        return fail(p, "number too long");   /* legal, but no profile writes one */
    memcpy(buf, p->s + p->pos, n);
    buf[n] = '\0';
    v->type = PF_JSON_NUMBER;
    v->num = strtod(buf, NULL);
    p->pos = i;
    return 0;
}

static int literal(struct parser *p, const char *word, enum pf_json_type type, pf_json *v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "unexpected character");
    p->pos += n;
    v->type = type;
    return 0;
}

static int parse_value(struct parser *p, pf_json *v, int depth)
{
    if (depth > PF_JSON_MAX_DEPTH)
        return pf_error_set(p->err, PF_ELIMIT, "JSON nested deeper than %d levels at offset %zu",
                            PF_JSON_MAX_DEPTH, p->pos);
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "expected a value");
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, v, depth, 1);
    case '[': return parse_container(p, v, depth, 0);
    case '"': v->type = PF_JSON_STRING; return parse_string(p, &v->str, &v->n);
    case 't': return literal(p, "true", PF_JSON_TRUE, v);
    case 'f': return literal(p, "false", PF_JSON_FALSE, v);
    case 'n': return literal(p, "null", PF_JSON_NULL, v);
    default: return parse_number(p, v);
    }
}

pf_json *pf_json_parse(const char *text, size_t len, uint64_t max_bytes, pf_error *err)
{
    struct parser p = { (const unsigned char *)text, len, 0, sizeof(pf_json), max_bytes, err };
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        p.pos = 3;
    pf_json *v = pf_calloc(1, sizeof *v);
    if (v == NULL) {
        pf_error_set(err, PF_ENOMEM, NULL);
        return NULL;
    }
    if (parse_value(&p, v, 0) < 0)
        goto fail;
    skip_ws(&p);
    if (p.pos != p.len) {
        fail(&p, "data after the JSON value");
        goto fail;
    }
    return v;
fail:
    pf_json_free(v);
    return NULL;
}

void pf_json_free(pf_json *v)
{
    if (v == NULL)
        return;
    free_value(v);
    pf_free(v);
}

const pf_json *pf_json_get(const pf_json *o, const char *key)
{
    if (o == NULL || o->type != PF_JSON_OBJECT)
        return NULL;
    for (uint32_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}
