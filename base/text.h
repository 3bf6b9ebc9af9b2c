/* text.h — bounded string building into a caller's buffer: messages, shape
 * strings, descriptions.  Nothing allocates; output is cut at the buffer's
 * end and always NUL-terminated. */
#ifndef BASE_TEXT_H
#define BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Appends printf output at buf + *at, never past size.  *at grows by what
 * the whole output would take, so *at >= size afterwards means "cut"; later
 * appends then write nothing. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void base_appendf(char *buf, size_t size, size_t *at, const char *fmt, ...);

/* "[2,3,4]"; "[]" for rank 0.  Returns buf. */
char *base_dims_str(const int64_t *dims, int rank, char *buf, size_t size);

#endif /* BASE_TEXT_H */
