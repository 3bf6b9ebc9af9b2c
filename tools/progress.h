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


/* The line of a C compile, whose length nobody knows in advance: on a
 * terminal "PROG: compiling WHAT  3.4 s" redrawn while the compiler runs
 * (cli_compile_wait is ebmc_compile_options.on_wait), then one line of the
 * time it took; elsewhere only that line, and only when the compile took over
 * a second (a log shows where the time went, a quick run stays quiet). */
typedef struct cli_compile_line {
    cli_progress p;
    const char *prog, *what;
} cli_compile_line;

void cli_compile_begin(cli_compile_line *l, const char *prog, const char *what);
void cli_compile_wait(void *line, double seconds);
/* ok: the compile succeeded (a failure prints nothing: its error follows);
 * where: appended to the final line, e.g. "cached as PATH" (may be NULL). */
void cli_compile_end(cli_compile_line *l, int ok, const char *where);

#endif /* EBMC_PROGRESS_H */
