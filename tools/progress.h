/* progress.h — the progress line of long commands (ebm sample, ebm train):
 * redrawn in place on stderr when stderr is a terminal, silent otherwise
 * (logs and CI stay clean; the command's one-line summary says the rest). */
#ifndef EBMC_PROGRESS_H
#define EBMC_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress {
    int active;          /* stderr is a terminal */
    const char *label;   /* "sample", "train" */
    const char *unit;    /* "steps" */
    int64_t total;
    double budget;       /* > 0: a time-limited run of that many seconds (the bar follows the clock) */
    double t0, last;     /* start, last redraw (seconds) */
    int drawn;           /* a line is on screen */
} cli_progress;

/* Starts a progress line of `total` units (EBM_PROGRESS=1/0 forces it on/off). */
void cli_progress_begin(cli_progress *p, const char *label, const char *unit, int64_t total);
/* Makes p a time-limited line: the bar fills with the clock up to `seconds`
 * after t0 (which may be earlier than the begin call: the command's start). */
void cli_progress_set_budget(cli_progress *p, double t0, double seconds);
/* Redraws (at most ~10 times a second, and always at done == total) with a
 * free-form tail, e.g. "E 1.23  acc 0.57". */
void cli_progress_update(cli_progress *p, int64_t done, const char *tail);
/* Clears the line. */
void cli_progress_end(cli_progress *p);

double cli_now_seconds(void);

#endif /* EBMC_PROGRESS_H */
