/* ebm_status.h — status codes and the error record shared by every ebmc layer.
 *
 * Every public function of ebmc returns an ebm_status (EBM_OK = 0) and, on
 * failure, fills an ebm_error whose message names the file, the node (name and
 * op) or the flag involved and what was expected.  Passing err = NULL is allowed
 * everywhere: the code is still returned, the message is dropped.
 *
 * It sits in base/, the bottom layer, and is self-contained (no library to
 * link), so ir/, compiler/ and runtime/ report errors with the same record;
 * it is installed with libebm as <ebm/ebm_status.h>.
 */
#ifndef EBM_STATUS_H
#define EBM_STATUS_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum ebm_status {
    EBM_OK = 0,
    EBM_ERR_IO,          /* a file could not be opened, read or written */
    EBM_ERR_FORMAT,      /* a file is not what it claims to be (corrupt, truncated) */
    EBM_ERR_UNSUPPORTED, /* valid input that ebmc does not handle (op, attribute, dtype) */
    EBM_ERR_INVALID,     /* a structurally invalid model or argument */
    EBM_ERR_SHAPE,       /* shapes that do not fit together */
    EBM_ERR_NOT_STATIC,  /* a value that must be known at compile time is not */
    EBM_ERR_NOMEM,       /* an allocation failed */
    EBM_ERR_NUMERIC,     /* NaN or Inf where a finite value was required */
    EBM_ERR_INTERNAL,    /* a bug in ebmc: please report */
    EBM_STATUS_COUNT
} ebm_status;

#define EBM_ERROR_MSG_MAX 1024

typedef struct ebm_error {
    ebm_status code;
    char msg[EBM_ERROR_MSG_MAX];
} ebm_error;

/* Fill err (if not NULL) and return code: `return ebm_fail(err, EBM_ERR_IO, "...", ...);` */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline ebm_status ebm_fail(ebm_error *err, ebm_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

/* Prepends "<prefix>: " to err's message (keeps the code), e.g. to add the file
 * name to a message from a lower layer.  Truncates at EBM_ERROR_MSG_MAX. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline void ebm_error_prefix(ebm_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char pre[EBM_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    size_t lp = (size_t)k < sizeof pre ? (size_t)k : sizeof pre - 1;
    if (lp + 2 >= sizeof err->msg)
        return;
    size_t keep = sizeof err->msg - lp - 3;   /* room for "<pre>: " and NUL */
    size_t lm = 0;
    while (lm < keep && err->msg[lm])
        lm++;
    memmove(err->msg + lp + 2, err->msg, lm);
    err->msg[lp + 2 + lm] = 0;
    memcpy(err->msg, pre, lp);
    err->msg[lp] = ':';
    err->msg[lp + 1] = ' ';
}

static inline const char *ebm_status_name(ebm_status s)
{
    static const char *const names[EBM_STATUS_COUNT] = {
        "ok", "i/o error", "format error", "unsupported", "invalid", "shape error",
        "not static", "out of memory", "numeric error", "internal error",
    };
    return (s >= 0 && s < EBM_STATUS_COUNT) ? names[s] : "unknown status";
}

#endif /* EBM_STATUS_H */
