/* text.c — bounded string building (see text.h). */
#include "text.h"

#include <stdarg.h>
#include <stdio.h>

void base_appendf(char *buf, size_t size, size_t *at, const char *fmt, ...)
{
    if (*at >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *at, size - *at, fmt, ap);
    va_end(ap);
    if (k > 0)
        *at += (size_t)k;
}

char *base_dims_str(const int64_t *dims, int rank, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0)
        return buf;
    buf[0] = 0;
    base_appendf(buf, size, &at, "[");
    for (int i = 0; i < rank; i++)
        base_appendf(buf, size, &at, "%s%lld", i ? "," : "", (long long)dims[i]);
    base_appendf(buf, size, &at, "]");
    return buf;
}
