/* codegen_c_text.c — the growing text buffer the C backend writes into, and
 * the escaping that keeps user-controlled strings (tensor and node names,
 * metadata) from breaking the generated C. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen_c.h"

static int buf_reserve(ebmc_buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->len + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void ebmc_buf_printf(ebmc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if (buf_reserve(b, (size_t)k))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)k;
}

void ebmc_buf_puts(ebmc_buf *b, const char *s)
{
    size_t k = strlen(s);
    if (buf_reserve(b, k))
        return;
    memcpy(b->s + b->len, s, k + 1);
    b->len += k;
}

void ebmc_buf_c_string(ebmc_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            ebmc_buf_printf(b, "\\%c", *p);
        else if (*p == '?' && p[1] == '?')
            ebmc_buf_puts(b, "?\"\"");   /* "??x" could be a trigraph */
        else if (*p < 0x20 || *p >= 0x7f)
            ebmc_buf_printf(b, "\\%03o", *p);
        else
            ebmc_buf_printf(b, "%c", *p);
    }
}

void ebmc_buf_c_comment(ebmc_buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '*' && p[1] == '/')
            ebmc_buf_puts(b, "* ");
        else if (*p == '/' && p[1] == '*')
            ebmc_buf_puts(b, "/ ");
        else if (*p == '\\' || *p < 0x20 || *p >= 0x7f)
            ebmc_buf_puts(b, "?");   /* no line splices, no raw control or UTF-8 bytes */
        else
            ebmc_buf_printf(b, "%c", *p);
    }
}

static const char *nonfinite_literal(double v)
{
    return isnan(v) ? "NAN" : v > 0 ? "INFINITY" : "-INFINITY";
}

const char *ebmc_float_literal(float v, char *buf, size_t size)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "%s", nonfinite_literal(v));
        return buf;
    }
    char t[48];
    snprintf(t, sizeof t, "%.9g", (double)v);   /* 9 digits round-trip any float */
    snprintf(buf, size, "%s%sf", t, strpbrk(t, ".e") ? "" : ".0");
    return buf;
}
