/* cc.c — turns the generated C and the weights blob into model.so with the
 * system C compiler.
 *
 * The work folder (mkdtemp under $TMPDIR) gets model.c, copies of ebm_abi.h
 * and ebm_philox.h (the texts libebm was built with, embedded at build time),
 * weights.bin and weights.s, whose .incbin pulls the blob into .rodata: a
 * 50 MB network then compiles as fast as a small one, where a C array literal
 * of 12 million floats would take the compiler minutes.  The compiler runs
 * through posix_spawnp (no shell, so no quoting of paths), its output goes to
 * a log whose first lines become the error message if it fails.
 *
 * The shared object is written to a temporary name in the destination folder
 * (created before compiling, so an unwritable destination fails fast) and
 * renamed into place: a failed or interrupted build never leaves a partial
 * model.so where a good one was.  Nothing is left behind on failure, except
 * the work folder with --keep-temps.
 */
#define _XOPEN_SOURCE 700   /* realpath */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cc.h"
#include "clock.h"
#include "digest.h"
#include "schedule.h"   /* EBMC_ALIGN: the blob starts aligned like the arena */

extern char **environ;

#define PATH_MAX_LEN 4096
#define CC_MAX_ARGS 32
#define LOG_LINES 6

typedef struct cc_paths {
    char work[PATH_MAX_LEN];     /* the work folder, "" until created */
    base_atomic_file out;        /* the temporary .so next to the destination */
} cc_paths;

static const char *const work_files[] = {"model.c",    "ebm_abi.h",  "ebm_philox.h", "weights.bin", "weights.s",
                                         "cc.log",     "unit0.o",    "unit1.o",      "unit2.o",     "unit3.o",
                                         "unit0.log",  "unit1.log",  "unit2.log",    "unit3.log"};
_Static_assert(EBMC_CC_MAX_UNITS == 4, "work_files names four units");

static ebm_status join(char *out, const char *dir, const char *name, ebm_error *err)
{
    int k = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);
    if (k < 0 || k >= PATH_MAX_LEN)
        return ebm_fail(err, EBM_ERR_IO, "%s/%s: path too long", dir, name);
    return EBM_OK;
}

static ebm_status write_file(const char *dir, const char *name, const void *data, size_t len, ebm_error *err)
{
    char path[PATH_MAX_LEN];
    if (join(path, dir, name, err))
        return EBM_ERR_IO;
    FILE *f = fopen(path, "wb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t put = len ? fwrite(data, 1, len, f) : 0;
    int bad = put != len || ferror(f);
    if (fclose(f) != 0 || bad)
        return ebm_fail(err, EBM_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return EBM_OK;
}

/* ---- the destination --------------------------------------------------------------- */

/* Creates the temporary output next to out_path (same file system, so the
 * final rename is atomic); the compiler writes it by name. */
static ebm_status open_destination(const char *out_path, cc_paths *cp, ebm_error *err)
{
    struct stat sb;
    if (!out_path || !out_path[0])
        return ebm_fail(err, EBM_ERR_INVALID, "no output path for the shared library");
    if (stat(out_path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ebm_fail(err, EBM_ERR_IO, "%s: is a folder, expected the path of the shared library to write",
                        out_path);
    if (base_atomic_open(&cp->out, out_path, NULL) != EBM_OK) {
        int e = errno;
        const char *slash = strrchr(out_path, '/');
        int len = slash == out_path ? 1 : slash ? (int)(slash - out_path) : 1;
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot write the shared library into folder %.*s: %s", out_path, len,
                        slash ? out_path : ".", strerror(e));
    }
    close(cp->out.fd);
    cp->out.fd = -1;
    return EBM_OK;
}

/* The permissions a new executable gets under the umask. */
static unsigned default_mode(void)
{
    mode_t u = umask(0);
    umask(u);
    return 0755 & ~u;
}

/* ---- the work folder ------------------------------------------------------------------- */

static ebm_status make_work_dir(cc_paths *cp, ebm_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0])
        tmp = "/tmp";
    int k = snprintf(cp->work, sizeof cp->work, "%s/ebmc-XXXXXX", tmp);
    if (k < 0 || k >= (int)sizeof cp->work || !mkdtemp(cp->work)) {
        int e = k < 0 || k >= (int)sizeof cp->work ? ENAMETOOLONG : errno;
        cp->work[0] = 0;
        return ebm_fail(err, EBM_ERR_IO, "cannot create a work folder in %s (set TMPDIR): %s", tmp, strerror(e));
    }
    /* the path goes into an assembler string */
    if (strpbrk(cp->work, "\"\\\n"))
        return ebm_fail(err, EBM_ERR_IO, "work folder %s: its path holds a quote, backslash or newline (set TMPDIR)",
                        cp->work);
    return EBM_OK;
}

static void remove_work_dir(cc_paths *cp)
{
    if (!cp->work[0])
        return;
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < sizeof work_files / sizeof work_files[0]; i++)
        if (join(path, cp->work, work_files[i], NULL) == EBM_OK)
            unlink(path);
    rmdir(cp->work);
    cp->work[0] = 0;
}

static ebm_status write_inputs(const ebmc_cc_job *job, const cc_paths *cp, ebm_error *err)
{
    char asm_text[PATH_MAX_LEN + 512];
    int k = snprintf(asm_text, sizeof asm_text,
                     "/* weights.s — the weights blob of model.c, generated by ebmc */\n"
                     "    .section .rodata\n"
                     "    .balign %d\n"
                     "    .globl ebm_blob\n"
                     "    .hidden ebm_blob\n"
                     "    .type ebm_blob, @object\n"
                     "ebm_blob:\n"
                     "    .incbin \"%s/weights.bin\"\n"
                     "    .size ebm_blob, . - ebm_blob\n"
                     "    .section .note.GNU-stack,\"\",@progbits\n",
                     EBMC_ALIGN, cp->work);
    if (k < 0 || k >= (int)sizeof asm_text)
        return ebm_fail(err, EBM_ERR_IO, "%s: path too long", cp->work);
    ebm_status st = write_file(cp->work, "model.c", job->c_source, strlen(job->c_source), err);
    if (!st)
        st = write_file(cp->work, "ebm_abi.h", ebmc_text_ebm_abi_h, strlen(ebmc_text_ebm_abi_h), err);
    if (!st)
        st = write_file(cp->work, "ebm_philox.h", ebmc_text_ebm_philox_h, strlen(ebmc_text_ebm_philox_h), err);
    if (!st)
        st = write_file(cp->work, "weights.bin", job->blob, (size_t)job->blob_floats * sizeof(float), err);
    if (!st)
        st = write_file(cp->work, "weights.s", asm_text, (size_t)k, err);
    return st;
}

/* ---- running the compiler -------------------------------------------------------------- */

/* One compiler command: its arguments and the log its output goes to. */
typedef struct cc_argv {
    char *v[CC_MAX_ARGS + 1];
    int n;
    char opt[8], march[160], unit[24], c_file[PATH_MAX_LEN], s_file[PATH_MAX_LEN], o_file[PATH_MAX_LEN],
        log[PATH_MAX_LEN];
    pid_t pid;   /* while it runs */
} cc_argv;

static int march_ok(const char *s)
{
    if (!s[0] || strlen(s) > 100)
        return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '.' || *p == '+'))
            return 0;
    return 1;
}

const char *ebmc_target_march(const char *target)
{
    if (!target || !target[0])
        return "native";
    return strcmp(target, "generic") == 0 ? "x86-64" : target;
}

/* The flags of every model compile besides -O, -march and the paths.
 * -ffp-contract=off: no FMA contraction, so native and generic builds and
 * the reference executor round alike in the elementwise arithmetic (the
 * float functions' polynomials, ebmk_expf and the like, ask for fmaf
 * explicitly where the target has FMA: their bits are the target's); -fno-math-errno changes no value,
 * nor does -fno-trapping-math (no code here reads the floating-point
 * exception flags), which lets the vectoriser compute both sides of a
 * select unmasked instead of once per mask; -fopenmp-simd honours the kernels' `#pragma omp simd` (vectorise this
 * loop, whatever its trip count) without OpenMP's runtime.
 * The link flags make the object libebm accepts (runtime/model_file.c):
 * -nostartfiles leaves out the C runtime's start files, whose constructors and
 * destructors (frame_dummy, __do_global_dtors_aux) a model does not need, so
 * loading it runs none of its code; a GNU hash table only; the GOT read-only
 * after relocation (-z relro -z now); a non-executable stack. */
static const char *const model_flags[] = {"-std=c11", "-fPIC", "-shared", "-fvisibility=hidden", "-ffp-contract=off",
                                          "-fno-math-errno", "-fno-trapping-math", "-fopenmp-simd", "-nostartfiles",
                                          "-Wl,--hash-style=gnu", "-Wl,-z,relro", "-Wl,-z,now",
                                          "-Wl,-z,noexecstack"};
#define N_MODEL_FLAGS (sizeof model_flags / sizeof model_flags[0])

static ebm_status target_flags(int opt_level, const char *target, char *opt, size_t opt_size, char *march,
                               size_t march_size, ebm_error *err)
{
    const char *cpu = ebmc_target_march(target);
    if (opt_level < 0 || opt_level > 3)
        return ebm_fail(err, EBM_ERR_INVALID, "-O%d: the optimisation level must be 0..3", opt_level);
    if (!march_ok(cpu))
        return ebm_fail(err, EBM_ERR_INVALID, "--target '%s': expected native, x86-64-v3, x86-64-v4, generic or a "
                        "-march value (letters, digits, '-', '_', '.', '+')", target);
    snprintf(opt, opt_size, "-O%d", opt_level);
    snprintf(march, march_size, "-march=%s", cpu);
    return EBM_OK;
}

static void push(cc_argv *a, const char *arg)
{
    if (a->n < CC_MAX_ARGS)
        a->v[a->n++] = (char *)arg;
    a->v[a->n] = NULL;
}

/* The commands, in a[0..]: with one unit, one command compiles and links;
 * with units, unit k's compile (-c -DEBM_UNIT=k -o unitk.o) is a[k] and the
 * link of the objects is a[units].  Returns how many, or -1 (err set). */
static int build_commands(const ebmc_cc_job *job, const char *cc, const cc_paths *cp, int units, cc_argv *a,
                          ebm_error *err)
{
    const int n_cmd = units > 1 ? units + 1 : 1;
    for (int c = 0; c < n_cmd; c++) {
        cc_argv *x = &a[c];
        const int link = c == n_cmd - 1;
        if (target_flags(job->opt_level, job->target_cpu, x->opt, sizeof x->opt, x->march, sizeof x->march, err))
            return -1;
        if (join(x->c_file, cp->work, "model.c", err) || join(x->s_file, cp->work, "weights.s", err))
            return -1;
        char name[32];
        snprintf(name, sizeof name, link ? "cc.log" : "unit%d.log", c);
        if (join(x->log, cp->work, name, err))
            return -1;
        snprintf(name, sizeof name, "unit%d.o", c);
        if (!link && join(x->o_file, cp->work, name, err))
            return -1;
        x->n = 0;
        push(x, cc);
        push(x, x->opt);
        for (size_t i = 0; i < N_MODEL_FLAGS; i++)
            push(x, model_flags[i]);
        push(x, x->march);
        if (!link) {
            snprintf(x->unit, sizeof x->unit, "-DEBM_UNIT=%d", c);
            const char *tail[] = {x->unit, "-c", "-o", x->o_file, x->c_file};
            for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
                push(x, tail[i]);
            continue;
        }
        push(x, "-o");
        push(x, cp->out.tmp);
        if (units > 1)
            for (int k = 0; k < units; k++)
                push(x, a[k].o_file);
        else
            push(x, x->c_file);
        const char *tail[] = {x->s_file, "-lopenblas", "-lm"};
        for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
            push(x, tail[i]);
    }
    return n_cmd;
}

/* The first lines of the compiler's log, joined with " | ". */
static void log_head(const char *log_path, char *out, size_t size)
{
    out[0] = 0;
    FILE *f = fopen(log_path, "r");
    if (!f)
        return;
    char line[512];
    size_t len = 0;
    for (int k = 0; k < LOG_LINES && fgets(line, sizeof line, f); k++) {
        line[strcspn(line, "\r\n")] = 0;
        int w = snprintf(out + len, size - len, "%s%s", len ? " | " : "", line);
        if (w < 0 || (size_t)w >= size - len)
            break;
        len += (size_t)w;
    }
    fclose(f);
}

static void print_command(const cc_argv *a)
{
    fprintf(stderr, "ebmc: running");
    for (int i = 0; i < a->n; i++)
        fprintf(stderr, " %s", a->v[i]);
    fprintf(stderr, "\n");
}

static ebm_status start_command(const ebmc_cc_job *job, const char *cc, cc_argv *a, ebm_error *err)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return ebm_fail(err, EBM_ERR_NOMEM, "cannot start the C compiler: out of memory");
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, a->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (job->verbose)
        print_command(a);
    int rc = posix_spawnp(&a->pid, cc, &fa, NULL, a->v, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        a->pid = 0;
        return ebm_fail(err, EBM_ERR_IO, "cannot run the C compiler '%s' (%s); install one or name it with --cc "
                        "or $CC", cc, strerror(rc));
    }
    return EBM_OK;
}

/* What a finished command's status means: OK, or the error with its log's head. */
static ebm_status command_result(const ebmc_cc_job *job, const char *cc, const cc_argv *a, int status,
                                 ebm_error *err)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return EBM_OK;
    char head[700];
    log_head(a->log, head, sizeof head);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return ebm_fail(err, EBM_ERR_IO, "cannot run the C compiler '%s' (exit status 127: not found?); install "
                        "one or name it with --cc or $CC%s%s", cc, head[0] ? ": " : "", head);
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof how, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(how, sizeof how, "killed by signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    return ebm_fail(err, EBM_ERR_IO, "the C compiler '%s' failed (%s) on the generated %s%s%s%s: %s", cc, how,
                    a->c_file, a->unit[0] ? " with " : "", a->unit, job->keep_temps ? "" : " (--keep-temps keeps it)",
                    head[0] ? head : "(no output)");
}

/* How many compiler processes at once: the job's, else $EBMC_JOBS, else the online CPUs. */
static int parallel_jobs(const ebmc_cc_job *job)
{
    int j = job->jobs;
    const char *env = getenv("EBMC_JOBS");
    if (j <= 0 && env && env[0]) {
        char *end;
        long v = strtol(env, &end, 10);
        j = *end == 0 && v > 0 && v < 1024 ? (int)v : 0;
    }
    if (j <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        j = cpus > 0 && cpus < 1024 ? (int)cpus : 1;
    }
    return j;
}

/* Runs cmd[0..n-1] with at most `jobs` at once (they are independent), then
 * cmd[n] if there is one (the link).  A failure stops new starts; the
 * running ones are waited for, and the first failure is the error.  The
 * progress callback is called about ten times a second while any runs. */
static ebm_status run_commands(const ebmc_cc_job *job, const char *cc, cc_argv *cmd, int n, int has_link,
                               ebm_error *err)
{
    const int jobs = parallel_jobs(job);
    const double t0 = base_now_seconds();
    double last_report = t0;
    ebm_status st = EBM_OK;
    int next = 0, running = 0;
    while ((next < n && !st) || running > 0) {
        while (next < n && running < jobs && !st) {
            st = start_command(job, cc, &cmd[next++], err);
            running += st == EBM_OK;
        }
        int reaped = 0;
        for (int k = 0; k < next; k++) {
            if (cmd[k].pid <= 0)
                continue;
            int status = 0;
            pid_t got = waitpid(cmd[k].pid, &status, running == 1 && !job->on_wait && next == n ? 0 : WNOHANG);
            if (got == 0 || (got < 0 && errno == EINTR))
                continue;
            cmd[k].pid = 0;
            running--;
            reaped = 1;
            ebm_status r = got < 0 ? ebm_fail(err, EBM_ERR_IO, "C compiler '%s': waitpid failed: %s", cc,
                                              strerror(errno))
                                   : command_result(job, cc, &cmd[k], status, st ? NULL : err);
            if (!st)
                st = r;
        }
        if (running > 0 && !reaped) {
            double now = base_now_seconds();
            if (job->on_wait && now - last_report >= 0.1) {
                job->on_wait(job->on_wait_ctx, now - t0);
                last_report = now;
            }
            nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);   /* 10 ms */
        }
    }
    if (!st && has_link) {
        st = start_command(job, cc, &cmd[n], err);
        int status = 0;
        while (!st) {
            pid_t got = waitpid(cmd[n].pid, &status, 0);
            if (got == cmd[n].pid) {
                st = command_result(job, cc, &cmd[n], status, err);
                break;
            }
            if (got < 0 && errno != EINTR)
                st = ebm_fail(err, EBM_ERR_IO, "C compiler '%s': waitpid failed: %s", cc, strerror(errno));
        }
    }
    if (job->verbose)
        fprintf(stderr, "ebmc: C compiler finished in %.2f s (%d unit%s, %d at once)\n", base_now_seconds() - t0,
                has_link ? n : 1, has_link && n > 1 ? "s" : "", jobs < n ? jobs : n);
    return st;
}

/* The compiler command: the option, else $CC, else cc. */
static const char *compiler_command(const char *cc)
{
    if (!cc || !cc[0])
        cc = getenv("CC");
    return cc && cc[0] ? cc : "cc";
}

ebm_status ebmc_cc_run(const ebmc_cc_job *job, ebm_error *err)
{
    const char *cc = compiler_command(job->cc);
    cc_paths cp;
    memset(&cp, 0, sizeof cp);
    const int units = job->units > 1 && job->units <= EBMC_CC_MAX_UNITS ? job->units : 1;
    cc_argv *a = calloc(EBMC_CC_MAX_UNITS + 1, sizeof *a);
    if (!a)
        return ebm_fail(err, EBM_ERR_NOMEM, "ebmc_cc_run: out of memory");
    int n_cmd = 0;
    ebm_status st = open_destination(job->out_path, &cp, err);
    if (!st)
        st = make_work_dir(&cp, err);
    if (!st && (n_cmd = build_commands(job, cc, &cp, units, a, err)) < 0)
        st = EBM_ERR_INVALID;
    if (!st)
        st = write_inputs(job, &cp, err);
    if (!st)
        st = run_commands(job, cc, a, units > 1 ? n_cmd - 1 : 1, units > 1, err);
    if (!st && job->seal)
        st = ebmc_seal_model(cp.out.tmp, err);
    if (!st)
        st = base_atomic_commit(&cp.out, NULL, NULL, 0, default_mode(), err);
    base_atomic_discard(&cp.out);
    if (job->keep_temps && cp.work[0])
        fprintf(stderr, "ebmc: kept the generated files in %s\n", cp.work);
    else
        remove_work_dir(&cp);
    free(a);
    return st;
}

/* ---- the compiler's identity (cache keys) ---------------------------------------------------- */

/* The file a command name runs: itself with a slash, else the first
 * executable of that name on $PATH; then with symbolic links resolved. */
static int resolve_command(const char *cmd, char *out, size_t size)
{
    char cand[PATH_MAX_LEN];
    const char *found = NULL;
    if (strchr(cmd, '/')) {
        found = cmd;
    } else {
        const char *path = getenv("PATH");
        for (const char *p = path ? path : "/usr/bin:/bin"; !found && *p;) {
            size_t n = strcspn(p, ":");
            int k = snprintf(cand, sizeof cand, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", cmd);
            if (k > 0 && (size_t)k < sizeof cand && access(cand, X_OK) == 0)
                found = cand;
            p += n + (p[n] == ':');
        }
    }
    char real[PATH_MAX_LEN];
    if (!found || !realpath(found, real) || strlen(real) >= size)
        return -1;
    strcpy(out, real);
    return 0;
}

/* What `cc --version` prints (at most size - 1 bytes, NUL-terminated). */
static ebm_status compiler_version(const char *cc, char *out, size_t size, ebm_error *err)
{
    int fds[2];
    if (pipe(fds) != 0)
        return ebm_fail(err, EBM_ERR_IO, "cannot ask the C compiler '%s' its version: %s", cc, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {(char *)cc, "--version", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, cc, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t len = 0;
    for (ssize_t n; rc == 0 && (n = read(fds[0], out + len, size - 1 - len)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
        if (len == size - 1) {   /* enough to tell compilers apart: drain the rest */
            char sink[256];
            while (read(fds[0], sink, sizeof sink) > 0) {
            }
            break;
        }
    }
    out[len] = 0;
    close(fds[0]);
    if (rc != 0)
        return ebm_fail(err, EBM_ERR_IO, "cannot run the C compiler '%s' (%s); install one or name it with --cc or "
                        "$CC", cc, strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ebm_fail(err, EBM_ERR_IO, "C compiler '%s': waitpid failed: %s", cc, strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return ebm_fail(err, EBM_ERR_IO, "the C compiler '%s' fails on --version (install one or name it with --cc "
                        "or $CC)", cc);
    return EBM_OK;
}

ebm_status ebmc_cc_identity(const char *cc_option, int opt_level, const char *target_cpu, char *out, size_t size,
                            ebm_error *err)
{
    const char *cc = compiler_command(cc_option);
    char real[PATH_MAX_LEN], version[4096], opt[8], march[160];
    ebm_status st = target_flags(opt_level, target_cpu, opt, sizeof opt, march, sizeof march, err);
    if (st)
        return st;
    if (resolve_command(cc, real, sizeof real) != 0)
        return ebm_fail(err, EBM_ERR_IO, "cannot find the C compiler '%s' (install one or name it with --cc or $CC)",
                        cc);
    if ((st = compiler_version(cc, version, sizeof version, err)))
        return st;
    int k = snprintf(out, size, "codegen %s; cc %s %016llx; flags %s %s", ebmc_codegen_revision, real,
                     (unsigned long long)base_digest64(version, strlen(version)), opt, march);
    for (size_t i = 0; i < N_MODEL_FLAGS && k >= 0 && (size_t)k < size; i++)
        k += snprintf(out + k, size - (size_t)k, " %s", model_flags[i]);
    if (k < 0 || (size_t)k >= size)
        return ebm_fail(err, EBM_ERR_INTERNAL, "ebmc_cc_identity: %zu bytes are too few", size);
    return EBM_OK;
}
