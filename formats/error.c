/* error.c: pf_error helpers; the code list lives in error.h. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PF_ERROR_NAME_(code, text) #code,
#define PF_ERROR_TEXT_(code, text) text,
static const char *const error_names[] = { PF_ERROR_LIST(PF_ERROR_NAME_) };
static const char *const error_texts[] = { PF_ERROR_LIST(PF_ERROR_TEXT_) };

int pf_error_set(pf_error *err, enum pf_error_code code, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof err->msg, "%s", pf_error_text(code));
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void pf_error_clear(pf_error *err)
{
    if (err == NULL)
        return;
    err->code = PF_OK;
    err->msg[0] = '\0';
}

const char *pf_error_name(enum pf_error_code code)
{
    return (unsigned)code < PF_ERROR_COUNT_ ? error_names[code] : "PF_E?";
}

const char *pf_error_text(enum pf_error_code code)
{
    return (unsigned)code < PF_ERROR_COUNT_ ? error_texts[code] : "unknown error";
}
