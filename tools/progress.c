/* progress.c — see progress.h. */
#include "progress.h"

#include "clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24

void cli_progress_begin(cli_progress *p, const char *label, const char *unit, int64_t total)
{
    const char *force = getenv("EBM_PROGRESS");
    memset(p, 0, sizeof *p);
    p->active = force && force[0] ? strcmp(force, "0") != 0 : isatty(STDERR_FILENO);
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = base_now_seconds();
}

void cli_progress_set_budget(cli_progress *p, double t0, double seconds)
{
    p->t0 = t0;
    p->budget = seconds;
}

void cli_progress_update(cli_progress *p, int64_t done, const char *tail)
{
    if (!p->active)
        return;
    double now = base_now_seconds();
    if (done < p->total && now - p->last < 0.1 && p->drawn)
        return;
    p->last = now;
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    int fill = p->budget > 0  ? (int)(BAR_WIDTH * fmin(1.0, el / p->budget))
               : p->total > 0 ? (int)(BAR_WIDTH * done / p->total)
                              : BAR_WIDTH;
    char bar[BAR_WIDTH + 1];
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    if (p->budget > 0)
        fprintf(stderr, "\r\033[K%s [%s] %.0f/%.0f s  %lld %s  %.1f %s/s  %s", p->label, bar, el, p->budget,
                (long long)done, p->unit, rate, p->unit, tail ? tail : "");
    else
        fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %s  %.1f %s/s  %s", p->label, bar, (long long)done,
                (long long)p->total, p->unit, rate, p->unit, tail ? tail : "");
    fflush(stderr);
    p->drawn = 1;
}

void cli_progress_end(cli_progress *p)
{
    if (p->active && p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
    }
    p->drawn = 0;
}

void cli_compile_begin(cli_compile_line *l, const char *prog, const char *what)
{
    cli_progress_begin(&l->p, "compile", "s", 0);
    l->prog = prog;
    l->what = what;
}

void cli_compile_wait(void *line, double seconds)
{
    static const char spin[4] = {'|', '/', '-', '\\'};
    cli_compile_line *l = line;
    if (!l->p.active)
        return;
    fprintf(stderr, "\r\033[K%s: compiling %s %c %.1f s", l->prog, l->what, spin[(int)(seconds * 10) % 4], seconds);
    fflush(stderr);
    l->p.drawn = 1;
}

void cli_compile_end(cli_compile_line *l, int ok, const char *where)
{
    double took = base_now_seconds() - l->p.t0;
    cli_progress_end(&l->p);
    if (ok && (l->p.active || took > 1.0))
        fprintf(stderr, "%s: compiled %s in %.1f s%s%s\n", l->prog, l->what, took, where ? "; " : "",
                where ? where : "");
}
