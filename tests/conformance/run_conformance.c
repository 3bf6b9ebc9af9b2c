/* run_conformance.c — runs the ONNX backend test data (onnx-v1.22.0: node/,
 * pytorch-converted/, pytorch-operator/) through the importer and the
 * reference executor, and reports passed / skipped / failed per operator family.
 *
 *     run_conformance DATA_DIR [FILTER] [-v] [--no-fork] [--expect LIST]
 *
 * Every test directory is classified, none is dropped:
 *   PASS  every output of every data set matches (|got-exp| <= atol + rtol*|exp|);
 *   SKIP  the importer says EBM_ERR_UNSUPPORTED (the reason is its message
 *         without the file/node prefix), or the test's data types are outside
 *         what an energy network uses (float16, float8, strings, ...);
 *   FAIL  anything else: wrong values, an unexpected error, a crash.
 * Each test runs in a forked child, so a crash or a sanitizer report in the
 * importer or executor becomes one FAIL instead of ending the run.
 * The last line, read by CI, is "conformance: P passed, F failed, S skipped";
 * the exit status is non-zero when anything failed.
 *
 * --expect LIST: a file of "folder/test_name" lines (tests/conformance/
 * expected_pass.txt), each a test that must PASS: one that is skipped (an op
 * turned "unsupported"), fails or is missing fails the run too, named.  Tests
 * that pass without being listed are counted, to be added.  Without the data
 * folder the runner exits 77 (CTest's skip) with the reason, or 1 under CI.
 */
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"   /* base_write_all */
#include "exec.h"
#include "ir.h"
#include "onnx.h"
#include "onnx_ebmc.pb-c.h"

/* The tolerances ONNX's own backend runner uses. */
#define RTOL 1e-3
#define ATOL 1e-7
/* A test that runs longer than this is stuck, not slow (they are tiny). */
#define TEST_TIMEOUT_S 120
#define MAX_IO 32

static const char *const FOLDERS[] = {"node", "pytorch-converted", "pytorch-operator"};

/* ---- results -------------------------------------------------------------- */

typedef enum outcome { OUT_PASS, OUT_SKIP, OUT_FAIL, OUT_COUNT } outcome;

/* Fixed-size so a child can send it through a pipe in one write. */
typedef struct test_result {
    outcome what;
    int bound_floats;  /* import needed the float inputs bound (EBM_ERR_NOT_STATIC) */
    int ran_f64;       /* DOUBLE data beyond float32's range: run by the float64 executor */
    char reason[256];  /* SKIP: why (equal reasons are counted together) */
    char detail[1536]; /* FAIL: what went wrong, with values */
} test_result;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void set_result(test_result *r, outcome what, const char *fmt, ...)
{
    va_list ap;
    r->what = what;
    va_start(ap, fmt);
    vsnprintf(what == OUT_SKIP ? r->reason : r->detail,
              what == OUT_SKIP ? sizeof r->reason : sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* ---- ONNX data types -------------------------------------------------------- */

static const char *onnx_type_name(int t)
{
    static const char *const names[] = {
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
        "STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64",
        "COMPLEX128", "BFLOAT16", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2",
        "FLOAT8E5M2FNUZ", "UINT4", "INT4", "FLOAT4E2M1", "FLOAT8E8M0", "UINT2", "INT2",
    };
    return (t >= 0 && t < (int)(sizeof names / sizeof names[0])) ? names[t] : "unknown type";
}

/* float32: the only element type a graph input keeps at run time (the IR is
 * float32); inputs of every other type are bound to their test value. */
static int onnx_type_is_float(int t) { return t == 1; }

/* Float32/64 values and the 8..64-bit integers and bool (which shape plumbing
 * and masks use); the rest (float16, float8, 4-bit, strings, complex) is not
 * something an energy network computes with. */
static int onnx_type_in_scope(int t)
{
    switch (t) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 11: case 12: case 13:
        return 1;
    default:
        return 0;
    }
}

/* The data_type field of a serialized TensorProto, or -1 if unreadable. */
static int tensor_file_type(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc(len ? (size_t)len : 1);
        if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len)
            len = -1;
    }
    fclose(f);
    int type = -1;
    if (buf && len >= 0) {
        Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, (size_t)len, buf);
        if (tp) {
            type = tp->has_data_type ? tp->data_type : 0;
            onnx__tensor_proto__free_unpacked(tp, NULL);
        }
    }
    free(buf);
    return type;
}

/* ---- messages ---------------------------------------------------------------- */

/* The part of an import error that says what is unsupported, without the
 * "FILE: node NAME (OpType): " prefix, so equal causes group together. */
static void error_essence(const char *msg, const char *model_path, char *out, size_t size)
{
    size_t plen = strlen(model_path);
    if (strncmp(msg, model_path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    if (strncmp(msg, "node ", 5) == 0) {
        const char *end = strstr(msg, "): ");
        if (end)
            msg = end + 3;
    }
    snprintf(out, size, "%s", msg);
    size_t n = strlen(out);
    while (n > 0 && (out[n - 1] == '.' || out[n - 1] == '\n' || out[n - 1] == ' '))
        out[--n] = '\0';
}

static void shape_text(const ir_shape *s, char *buf, size_t size)
{
    if (s->rank < 0 || s->rank > IR_MAX_RANK) {
        snprintf(buf, size, "[rank %d?]", s->rank);
        return;
    }
    ir_shape_str(s, buf, size);
}

/* ---- one data set ------------------------------------------------------------- */

typedef struct data_set {
    ir_tensor in[MAX_IO];
    int n_in;
    ir_tensor out[MAX_IO];
    int n_out;
    int f64;   /* DOUBLE data beyond float32's range: run in float64 (what `ebm eval --f64` runs) */
} data_set;

static void data_set_free(data_set *d)
{
    for (int i = 0; i < d->n_in; i++)
        ir_tensor_free(&d->in[i]);
    for (int i = 0; i < d->n_out; i++)
        ir_tensor_free(&d->out[i]);
    d->n_in = d->n_out = 0;
}

static int64_t tensor_numel(const ir_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->shape.rank; i++)
        n *= t->shape.d[i];
    return n;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads DIR/KIND_K.pb for K = 0, 1, ... into t[]; returns 0 or fills r. */
static int read_tensors(const char *dir, const char *kind, ir_tensor *t, int *count,
                        test_result *r)
{
    char path[4096];
    for (*count = 0;; (*count)++) {
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, kind, *count);
        if (!file_exists(path))
            return 0;
        if (*count == MAX_IO) {
            set_result(r, OUT_FAIL, "%s: more than %d %s files", dir, MAX_IO, kind);
            return -1;
        }
        ebm_error err = {0};
        memset(&t[*count], 0, sizeof t[*count]);
        if (ir_onnx_read_tensor_file(path, &t[*count], &err) != EBM_OK) {
            int type = tensor_file_type(path);
            if (type >= 0 && !onnx_type_in_scope(type))
                set_result(r, OUT_SKIP, "%s of type %s (out of scope)", kind, onnx_type_name(type));
            else
                set_result(r, OUT_FAIL, "reading %s: %s (%s)", path, err.msg,
                           ebm_status_name(err.code));
            return -1;
        }
    }
}

/* Double data beyond float32's range cannot mean the same in float32.  Four
 * pytorch-operator tests (add_broadcast, add_size1_right_broadcast,
 * add_size1_singleton_broadcast, addconstant) add run-time DOUBLE inputs that
 * hold uninitialised memory the exporter saved (values like 2.4e198 next to
 * denormals); as float32 they are infinite.  Compiled models take and compute
 * float32 (the .npy / ABI convention), but the reference executor also runs
 * in float64 (`ebm eval --f64`), so such a data set runs there: it tests that
 * path, and says so in the summary. */
static int fits_float32(const ir_tensor *t)
{
    if (t->dtype != IR_DT_F64)
        return 1;
    int64_t n = tensor_numel(t);
    for (int64_t k = 0; k < n; k++) {
        double v = ((const double *)t->data)[k];
        if (isfinite(v) && fabs(v) > FLT_MAX)
            return 0;
    }
    return 1;
}

static int load_data_set(const char *dir, data_set *d, test_result *r)
{
    if (read_tensors(dir, "input", d->in, &d->n_in, r) != 0 ||
        read_tensors(dir, "output", d->out, &d->n_out, r) != 0)
        return -1;
    for (int k = 0; k < d->n_in + d->n_out; k++)
        d->f64 |= !fits_float32(k < d->n_in ? &d->in[k] : &d->out[k - d->n_in]);
    return 0;
}

/* Imports with every non-float input bound to its test value; if the importer
 * needs more to be static, binds the float inputs as well.  Returns the graph
 * or NULL with r filled (SKIP for EBM_ERR_UNSUPPORTED). */
static ir_graph *import_bound(const char *model, const ir_onnx_input_desc *desc, int n_desc,
                              const data_set *d, test_result *r)
{
    ir_bound_input bind[MAX_IO];
    int n_given = d->n_in < n_desc ? d->n_in : n_desc;
    ebm_error err = {0};
    ir_graph *g = NULL;
    ebm_status st = EBM_OK;
    for (int pass = 0; pass < 2; pass++) {
        int nb = 0;
        for (int k = 0; k < n_given; k++)
            if (pass == 1 || !(onnx_type_is_float(desc[k].elem_type) || (d->f64 && desc[k].elem_type == 11)))
                bind[nb++] = (ir_bound_input){.name = desc[k].name, .value = &d->in[k]};
        ir_import_options opt = {.batch_symbolic = 0, .bind = bind, .n_bind = nb, .double_inputs = d->f64};
        memset(&err, 0, sizeof err);
        st = ir_onnx_import_file(model, &opt, &g, &err);
        if (st == EBM_OK) {
            r->bound_floats = pass;
            return g;
        }
        g = NULL;   /* not trusting a failed import to leave *out alone */
        if (st != EBM_ERR_NOT_STATIC)
            break;
    }
    if (st == EBM_ERR_UNSUPPORTED) {
        char essence[sizeof r->reason];
        error_essence(err.msg, model, essence, sizeof essence);
        set_result(r, OUT_SKIP, "%s", essence);
    } else {
        set_result(r, OUT_FAIL, "import: %s (%s)", err.msg, ebm_status_name(st));
    }
    return NULL;
}

static int shapes_equal(const ir_shape *a, const ir_shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

/* The graph's shape with the batch dim bound to n. */
static ir_shape bind_batch(const ir_shape *s, int64_t n)
{
    ir_shape b = *s;
    for (int i = 0; i < b.rank && i < IR_MAX_RANK; i++)
        if (b.d[i] == IR_DIM_N)
            b.d[i] = n;
    return b;
}

static double tensor_get(const ir_tensor *t, int64_t k)
{
    switch (t->dtype) {
    case IR_DT_F32: return ((const float *)t->data)[k];
    case IR_DT_F64: return ((const double *)t->data)[k];
    case IR_DT_I64: return (double)((const int64_t *)t->data)[k];
    default: return NAN;
    }
}

/* The batch size to run with: graph inputs whose dim 0 is N take it from the
 * test data (with batch_symbolic = 0 there should be none; 1 otherwise). */
static int64_t batch_from_data(const ir_graph *g, const ir_onnx_input_desc *desc, int n_desc,
                               const data_set *d)
{
    for (int i = 0; i < g->n_inputs; i++) {
        const ir_node *in = &g->nodes[g->inputs[i]];
        if (in->shape.rank < 1 || in->shape.d[0] != IR_DIM_N || !in->name)
            continue;
        for (int k = 0; k < n_desc && k < d->n_in; k++)
            if (strcmp(desc[k].name, in->name) == 0 && d->in[k].shape.rank >= 1)
                return d->in[k].shape.d[0];
    }
    return 1;
}

/* Converts the test value of every graph input to float32 buffers. */
static int prepare_inputs(const ir_graph *g, int64_t n, const ir_onnx_input_desc *desc,
                          int n_desc, const data_set *d, void **bufs, test_result *r)
{
    char a[128], b[128];
    for (int i = 0; i < g->n_inputs; i++) {
        const ir_node *in = &g->nodes[g->inputs[i]];
        int k = 0;
        while (k < n_desc && k < d->n_in && !(in->name && strcmp(desc[k].name, in->name) == 0))
            k++;
        if (k == n_desc || k == d->n_in) {
            set_result(r, OUT_FAIL, "graph input %d \"%s\" has no test data", i,
                       in->name ? in->name : "(unnamed)");
            return -1;
        }
        ir_shape want = bind_batch(&in->shape, n);
        if (!shapes_equal(&want, &d->in[k].shape)) {
            shape_text(&want, a, sizeof a);
            shape_text(&d->in[k].shape, b, sizeof b);
            set_result(r, OUT_FAIL, "graph input \"%s\" has shape %s, its test data %s",
                       desc[k].name, a, b);
            return -1;
        }
        int64_t numel = tensor_numel(&d->in[k]);
        bufs[i] = malloc(numel > 0 ? (size_t)numel * (d->f64 ? sizeof(double) : sizeof(float)) : 1);
        if (!bufs[i]) {
            set_result(r, OUT_FAIL, "out of memory for input \"%s\"", desc[k].name);
            return -1;
        }
        for (int64_t e = 0; e < numel; e++) {
            if (d->f64)
                ((double *)bufs[i])[e] = tensor_get(&d->in[k], e);
            else
                ((float *)bufs[i])[e] = (float)tensor_get(&d->in[k], e);
        }
    }
    return 0;
}

static void index_text(const ir_shape *s, int64_t flat, char *buf, size_t size)
{
    int64_t idx[IR_MAX_RANK];
    for (int i = s->rank - 1; i >= 0; i--) {
        int64_t dim = s->d[i] > 0 ? s->d[i] : 1;
        idx[i] = flat % dim;
        flat /= dim;
    }
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < s->rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? "," : "",
                                 (long long)idx[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

static int close_enough(double got, double exp)
{
    if (isnan(exp) || isnan(got))
        return isnan(exp) && isnan(got);
    if (got == exp)   /* equal infinities */
        return 1;
    return fabs(got - exp) <= ATOL + RTOL * fabs(exp);
}

/* Compares output k; fills r and returns -1 on a mismatch. */
static int compare_output(const ir_graph *g, int k, int64_t n, const void *out, int f64,
                          const ir_tensor *exp, test_result *r)
{
    const float *got32 = out;
    const double *got64 = out;
#define GOT(e) (f64 ? got64[e] : (double)got32[e])
    const char *name = g->output_names && g->output_names[k] ? g->output_names[k] : "";
    ir_shape have = bind_batch(&g->nodes[g->outputs[k]].shape, n);
    char a[128], b[128];
    if (!shapes_equal(&have, &exp->shape)) {
        shape_text(&have, a, sizeof a);
        shape_text(&exp->shape, b, sizeof b);
        set_result(r, OUT_FAIL, "output %d \"%s\": shape %s, expected %s", k, name, a, b);
        return -1;
    }
    int64_t numel = tensor_numel(exp), bad = 0, worst = -1;
    double worst_excess = -1;
    for (int64_t e = 0; e < numel; e++) {
        double want = tensor_get(exp, e);
        if (close_enough(GOT(e), want))
            continue;
        bad++;
        double excess = fabs(GOT(e) - want) / (ATOL + RTOL * fabs(want));
        if (isnan(excess))
            excess = INFINITY;
        if (excess > worst_excess) {
            worst_excess = excess;
            worst = e;
        }
    }
    if (bad == 0)
        return 0;
    index_text(&exp->shape, worst, a, sizeof a);
    set_result(r, OUT_FAIL,
               "output %d \"%s\": %lld of %lld values differ; worst at %s: expected %.9g, got %.9g"
               " (|diff| %.3g, tolerance %.3g)",
               k, name, (long long)bad, (long long)numel, a, tensor_get(exp, worst),
               GOT(worst), fabs(GOT(worst) - tensor_get(exp, worst)),
               ATOL + RTOL * fabs(tensor_get(exp, worst)));
    return -1;
#undef GOT
}

/* Runs g on data set d and compares every output. */
static void execute_and_compare(const ir_graph *g, const ir_onnx_input_desc *desc, int n_desc,
                                const data_set *d, test_result *r)
{
    if (g->n_outputs != d->n_out) {
        set_result(r, OUT_FAIL, "graph has %d outputs, the test data %d", g->n_outputs, d->n_out);
        return;
    }
    int64_t n = batch_from_data(g, desc, n_desc, d);
    void **in = calloc((size_t)g->n_inputs + 1, sizeof *in);
    void **out = calloc((size_t)g->n_outputs + 1, sizeof *out);
    if (!in || !out) {
        set_result(r, OUT_FAIL, "out of memory");
        goto done;
    }
    if (prepare_inputs(g, n, desc, n_desc, d, in, r) != 0)
        goto done;
    for (int k = 0; k < g->n_outputs; k++) {
        int64_t numel = ir_shape_numel(&g->nodes[g->outputs[k]].shape, n);
        out[k] = malloc(numel > 0 ? (size_t)numel * (d->f64 ? sizeof(double) : sizeof(float)) : 1);
        if (!out[k]) {
            set_result(r, OUT_FAIL, "out of memory for output %d", k);
            goto done;
        }
    }
    ebm_error err = {0};
    r->ran_f64 = d->f64;
    ebm_status st = ebmc_exec(g, n, d->f64 ? EBMC_F64 : EBMC_F32, (const void *const *)in, (void *const *)out, &err);
    if (st != EBM_OK) {
        set_result(r, OUT_FAIL, "exec: %s (%s)", err.msg, ebm_status_name(st));
        goto done;
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (compare_output(g, k, n, out[k], d->f64, &d->out[k], r) != 0)
            break;
done:
    for (int i = 0; in && i < g->n_inputs; i++)
        free(in[i]);
    for (int k = 0; out && k < g->n_outputs; k++)
        free(out[k]);
    free(in);
    free(out);
}

/* Imports, verifies and runs the model on one data set. */
static void run_data_set(const char *model, const char *dir, const ir_onnx_input_desc *desc,
                         int n_desc, test_result *r)
{
    data_set d = {0};
    if (load_data_set(dir, &d, r) == 0) {
        ir_graph *g = NULL;
        if (d.n_in > n_desc)
            set_result(r, OUT_FAIL, "%s: %d input files for %d graph inputs", dir, d.n_in, n_desc);
        else
            g = import_bound(model, desc, n_desc, &d, r);
        ebm_error err = {0};
        if (g && ir_verify(g, &err) != EBM_OK)
            set_result(r, OUT_FAIL, "ir_verify after import: %s", err.msg);
        else if (g)
            execute_and_compare(g, desc, n_desc, &d, r);
        ir_graph_free(g);
    }
    data_set_free(&d);
}

static int is_data_set(const struct dirent *e)
{
    return strncmp(e->d_name, "test_data_set_", 14) == 0;
}

/* Runs the data sets in order until one does not pass. */
static void run_data_sets(const char *dir, const char *model, const ir_onnx_input_desc *desc,
                          int n_desc, test_result *r)
{
    struct dirent **sets = NULL;
    int n_sets = scandir(dir, &sets, is_data_set, alphasort);
    if (n_sets <= 0)
        set_result(r, OUT_FAIL, "no test_data_set_* folder");
    for (int s = 0; s < n_sets; s++) {
        char set_dir[4096 + 256];
        snprintf(set_dir, sizeof set_dir, "%s/%s", dir, sets[s]->d_name);
        if (r->what == OUT_PASS)
            run_data_set(model, set_dir, desc, n_desc, r);
        free(sets[s]);
    }
    free(sets);
}

/* The first input whose element type is out of scope, or -1. */
static int out_of_scope_input(const ir_onnx_input_desc *desc, int n_desc)
{
    for (int k = 0; k < n_desc; k++)
        if (!onnx_type_in_scope(desc[k].elem_type))
            return k;
    return -1;
}

/* Runs one test directory; the first data set that does not pass decides. */
static void run_test(const char *dir, test_result *r)
{
    char model[4096];
    memset(r, 0, sizeof *r);
    r->what = OUT_PASS;
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    if (!file_exists(model)) {
        set_result(r, OUT_FAIL, "no model.onnx");
        return;
    }
    ir_onnx_input_desc *desc = NULL;
    int n_desc = 0;
    ebm_error err = {0};
    ebm_status st = ir_onnx_list_inputs(model, &desc, &n_desc, &err);
    if (st != EBM_OK) {
        char essence[sizeof r->reason];
        error_essence(err.msg, model, essence, sizeof essence);
        if (st == EBM_ERR_UNSUPPORTED)
            set_result(r, OUT_SKIP, "%s", essence);
        else
            set_result(r, OUT_FAIL, "listing inputs: %s (%s)", err.msg, ebm_status_name(st));
        return;
    }
    int k = out_of_scope_input(desc, n_desc);
    if (k >= 0)
        set_result(r, OUT_SKIP, "input of type %s (out of scope)",
                   onnx_type_name(desc[k].elem_type));
    else
        run_data_sets(dir, model, desc, n_desc, r);
    ir_onnx_inputs_free(desc, n_desc);
}

/* ---- isolation ------------------------------------------------------------------ */

static size_t read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* Runs the test in a child so that a crash, a hang or a sanitizer report
 * is this test's FAIL.  The child leaves with exit(), not _exit(), so that
 * LeakSanitizer checks what the test leaked. */
static void run_test_isolated(const char *dir, test_result *r)
{
    int fds[2];
    fflush(NULL);
    if (pipe(fds) != 0) {
        run_test(dir, r);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        run_test(dir, r);
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(TEST_TIMEOUT_S);
        test_result mine;
        run_test(dir, &mine);
        int ok = base_write_all(fds[1], &mine, sizeof mine) == 0;
        close(fds[1]);
        exit(ok ? 0 : 3);
    }
    close(fds[1]);
    memset(r, 0, sizeof *r);
    size_t got = read_all(fds[0], r, sizeof *r);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    r->reason[sizeof r->reason - 1] = r->detail[sizeof r->detail - 1] = '\0';
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        set_result(r, OUT_FAIL, "crashed: %s%s", strsignal(sig),
                   sig == SIGALRM ? " (timed out)" : "");
    } else if (got != sizeof *r || (unsigned)r->what >= OUT_COUNT) {
        set_result(r, OUT_FAIL, "crashed: the test process ended with status %d and no result"
                   " (sanitizer report above?)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* a result, then a sanitizer (e.g. LeakSanitizer) report at exit */
        char prev[sizeof r->detail];
        snprintf(prev, sizeof prev, "%s", r->what == OUT_FAIL ? r->detail : "");
        set_result(r, OUT_FAIL, "exit status %d after the test (sanitizer report above?)%s%s",
                   WIFEXITED(status) ? WEXITSTATUS(status) : -1, prev[0] ? "; " : "", prev);
    }
}

/* ---- families and tallies ---------------------------------------------------------- */

/* Multi-word operator names in test directory names; the others are one word
 * ("test_averagepool_2d_pads" -> "averagepool").  The longest match wins. */
static const struct {
    const char *prefix, *family;
} MULTIWORD[] = {
    {"layer_normalization", "layer_normalization"},
    {"group_normalization", "group_normalization"},
    {"instance_normalization", "instance_normalization"},
    {"batch_normalization", "batch_normalization"},
    {"reduce_sum_square", "reduce_sum_square"},
    {"reduce_log_sum_exp", "reduce_log_sum_exp"},
    {"reduce_log_sum", "reduce_log_sum"},
    {"reduce_sum", "reduce_sum"},
    {"reduce_mean", "reduce_mean"},
    {"reduce_max", "reduce_max"},
    {"reduce_min", "reduce_min"},
    {"reduce_prod", "reduce_prod"},
    {"reduce_l1", "reduce_l1"},
    {"reduce_l2", "reduce_l2"},
    {"constant_pad", "pad"},
    {"log_softmax", "log_softmax"},
    {"reduced_mean", "reduced_mean"},
    {"reduced_sum", "reduced_sum"},
    {"non_float_params", "non_float_params"},
    {"symbolic_override", "symbolic_override"},
};

static void family_of(const char *folder, const char *test, char *out, size_t size)
{
    const char *s = test;
    if (strncmp(s, "test_", 5) == 0)
        s += 5;
    if (strcmp(folder, "pytorch-operator") == 0 && strncmp(s, "operator_", 9) == 0)
        s += 9;
    const char *fam = NULL;
    size_t best = 0, len;
    for (size_t i = 0; i < sizeof MULTIWORD / sizeof MULTIWORD[0]; i++) {
        len = strlen(MULTIWORD[i].prefix);
        if (len > best && strncmp(s, MULTIWORD[i].prefix, len) == 0 &&
            (s[len] == '_' || s[len] == '\0')) {
            best = len;
            fam = MULTIWORD[i].family;
        }
    }
    const char *sep = strcmp(folder, "node") == 0 ? "" : "/";
    const char *pre = strcmp(folder, "node") == 0 ? "" : folder;
    if (fam) {
        snprintf(out, size, "%s%s%s", pre, sep, fam);
    } else {
        len = strcspn(s, "_");
        snprintf(out, size, "%s%s%.*s", pre, sep, (int)len, s);
    }
}

typedef struct family {
    int folder;        /* index in FOLDERS: the table lists node/ first */
    char name[128];
    int count[OUT_COUNT];
} family;

typedef struct reason {
    char text[256];
    int count;
} reason;

typedef struct tally {
    family *fam;
    int n_fam, cap_fam;
    reason *why;
    int n_why, cap_why;
    int total[OUT_COUNT];
    int bound_floats;
    int ran_f64;
} tally;

/* Grows *arr (elements of size elem) to hold one more; 0 or -1. */
static int grow(void **arr, int *cap, int n, size_t elem)
{
    if (n < *cap)
        return 0;
    int ncap = *cap ? 2 * *cap : 64;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

static void tally_add(tally *t, int folder, const char *fam_name, const test_result *r)
{
    t->total[r->what]++;
    t->bound_floats += r->bound_floats;
    t->ran_f64 += r->ran_f64 && r->what == OUT_PASS;
    int i = 0;
    while (i < t->n_fam && strcmp(t->fam[i].name, fam_name) != 0)
        i++;
    if (i == t->n_fam) {
        if (grow((void **)&t->fam, &t->cap_fam, t->n_fam, sizeof *t->fam) != 0)
            return;
        memset(&t->fam[i], 0, sizeof t->fam[i]);
        t->fam[i].folder = folder;
        snprintf(t->fam[i].name, sizeof t->fam[i].name, "%s", fam_name);
        t->n_fam++;
    }
    t->fam[i].count[r->what]++;
    if (r->what != OUT_SKIP)
        return;
    int j = 0;
    while (j < t->n_why && strcmp(t->why[j].text, r->reason) != 0)
        j++;
    if (j == t->n_why) {
        if (grow((void **)&t->why, &t->cap_why, t->n_why, sizeof *t->why) != 0)
            return;
        snprintf(t->why[j].text, sizeof t->why[j].text, "%s", r->reason);
        t->why[j].count = 0;
        t->n_why++;
    }
    t->why[j].count++;
}

static int by_count_desc(const void *a, const void *b)
{
    const reason *x = a, *y = b;
    return x->count != y->count ? y->count - x->count : strcmp(x->text, y->text);
}

static int by_folder_then_name(const void *a, const void *b)
{
    const family *x = a, *y = b;
    return x->folder != y->folder ? x->folder - y->folder : strcmp(x->name, y->name);
}

static void tally_print(tally *t)
{
    if (t->n_fam > 0)   /* qsort(NULL, 0, ...) is undefined */
        qsort(t->fam, (size_t)t->n_fam, sizeof *t->fam, by_folder_then_name);
    printf("\n%-40s %7s %8s %7s\n", "family", "passed", "skipped", "failed");
    for (int i = 0; i < t->n_fam; i++)
        printf("%-40s %7d %8d %7d\n", t->fam[i].name, t->fam[i].count[OUT_PASS],
               t->fam[i].count[OUT_SKIP], t->fam[i].count[OUT_FAIL]);
    if (t->n_why > 0) {
        qsort(t->why, (size_t)t->n_why, sizeof *t->why, by_count_desc);
        printf("\nskip reasons:\n");
        for (int j = 0; j < t->n_why; j++)
            printf("%6d  %s\n", t->why[j].count, t->why[j].text);
    }
    int all = t->total[OUT_PASS] + t->total[OUT_SKIP] + t->total[OUT_FAIL];
    printf("\ntotal: %d tests in %d families: %d passed, %d skipped, %d failed", all, t->n_fam,
           t->total[OUT_PASS], t->total[OUT_SKIP], t->total[OUT_FAIL]);
    if (t->bound_floats)
        printf(" (%d imported only with their float inputs bound as constants)",
               t->bound_floats);
    if (t->ran_f64)
        printf(" (%d with DOUBLE data beyond float32's range, passed by the float64 executor: ebm eval --f64)",
               t->ran_f64);
    printf("\nconformance: %d passed, %d failed, %d skipped\n", t->total[OUT_PASS],
           t->total[OUT_FAIL], t->total[OUT_SKIP]);
}

/* ---- driver ------------------------------------------------------------------------- */

/* The tests that must pass (--expect), and what happened to each. */
typedef struct expected {
    char rel[256];     /* folder/test_name */
    int seen;
    test_result r;
} expected;

typedef struct expect_list {
    const char *path;
    expected *e;
    int n, cap;
    int unlisted_passes;
} expect_list;

typedef struct run_opts {
    const char *root;
    const char *filter;
    int verbose;
    int isolate;
    int filter_is_family;
    expect_list *expect;   /* NULL without --expect */
} run_opts;

/* Reads LIST: one test per line; blank lines and # comments are ignored. */
static int expect_read(expect_list *x, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("--expect %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    x->path = path;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        const char *s = line + strspn(line, " \t");
        if (!*s || *s == '#')
            continue;
        if (strlen(s) >= sizeof x->e[0].rel || grow((void **)&x->e, &x->cap, x->n, sizeof *x->e) != 0) {
            printf("--expect %s: line too long or out of memory: %s\n", path, s);
            fclose(f);
            return -1;
        }
        memset(&x->e[x->n], 0, sizeof x->e[x->n]);
        snprintf(x->e[x->n].rel, sizeof x->e[x->n].rel, "%s", s);
        x->n++;
    }
    fclose(f);
    return 0;
}

static void expect_note(expect_list *x, const char *rel, const test_result *r)
{
    if (!x)
        return;
    for (int i = 0; i < x->n; i++)
        if (strcmp(x->e[i].rel, rel) == 0) {
            x->e[i].seen = 1;
            x->e[i].r = *r;
            return;
        }
    x->unlisted_passes += r->what == OUT_PASS;
}

static int is_test_dir(const struct dirent *e)
{
    return strncmp(e->d_name, "test_", 5) == 0;
}

/* A filter naming a family exactly selects that family ("relu" is not
 * "leakyrelu"); any other filter is a substring of "folder/test_name". */
static int selected(const run_opts *o, const char *family, const char *relpath)
{
    if (!o->filter)
        return 1;
    return o->filter_is_family ? strcmp(o->filter, family) == 0 : strstr(relpath, o->filter) != NULL;
}

static int is_family_name(const char *root, const char *name)
{
    int found = 0;
    for (size_t f = 0; f < sizeof FOLDERS / sizeof FOLDERS[0] && !found; f++) {
        char dir[4096], fam[128];
        snprintf(dir, sizeof dir, "%s/%s", root, FOLDERS[f]);
        struct dirent **tests = NULL;
        int n = scandir(dir, &tests, is_test_dir, alphasort);
        for (int i = 0; i < n; i++) {
            family_of(FOLDERS[f], tests[i]->d_name, fam, sizeof fam);
            found |= strcmp(fam, name) == 0;
            free(tests[i]);
        }
        free(tests);
    }
    return found;
}

static void run_folder(const run_opts *o, int fi, tally *t)
{
    const char *folder = FOLDERS[fi];
    char dir[4096], rel[512], fam[128];
    snprintf(dir, sizeof dir, "%s/%s", o->root, folder);
    struct dirent **tests = NULL;
    int n = scandir(dir, &tests, is_test_dir, alphasort);
    if (n < 0) {
        printf("FAIL %s: cannot list the folder: %s\n", folder, strerror(errno));
        test_result r = {.what = OUT_FAIL};
        tally_add(t, fi, folder, &r);
        return;
    }
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "%s/%s", folder, tests[i]->d_name);
        family_of(folder, tests[i]->d_name, fam, sizeof fam);
        if (selected(o, fam, rel)) {
            test_result r;
            snprintf(dir, sizeof dir, "%s/%s", o->root, rel);
            if (o->isolate)
                run_test_isolated(dir, &r);
            else
                run_test(dir, &r);
            if (r.what == OUT_FAIL)
                printf("FAIL %s: %s\n", rel, r.detail);
            else if (o->verbose)
                printf("%s %s%s%s%s\n", r.what == OUT_PASS ? "PASS" : "SKIP", rel,
                       r.what == OUT_SKIP ? ": " : "", r.what == OUT_SKIP ? r.reason : "",
                       r.bound_floats ? " (float inputs bound)" : "");
            tally_add(t, fi, fam, &r);
            expect_note(o->expect, rel, &r);
        }
        free(tests[i]);
    }
    free(tests);
}

/* The expected passes that did not pass (among the tests the filter selects);
 * returns how many. */
static int expect_report(const run_opts *o)
{
    const expect_list *x = o->expect;
    int bad = 0, checked = 0;
    for (int i = 0; i < x->n; i++) {
        const expected *e = &x->e[i];
        const char *slash = strchr(e->rel, '/');
        char fam[128];
        if (slash) {
            char folder[128];
            snprintf(folder, sizeof folder, "%.*s", (int)(slash - e->rel), e->rel);
            family_of(folder, slash + 1, fam, sizeof fam);
        } else {
            snprintf(fam, sizeof fam, "?");
        }
        if (!selected(o, fam, e->rel))
            continue;
        checked++;
        if (e->seen && e->r.what == OUT_PASS)
            continue;
        bad++;
        printf("EXPECTED PASS %s: %s%s\n", e->rel,
               !e->seen ? "not found in the data" : e->r.what == OUT_SKIP ? "skipped: " : "failed: ",
               !e->seen ? "" : e->r.what == OUT_SKIP ? e->r.reason : e->r.detail);
    }
    printf("expected passes (%s): %d listed, %d passed, %d did not", x->path, checked, checked - bad, bad);
    if (x->unlisted_passes)
        printf("; %d tests pass that the list does not name (add them)", x->unlisted_passes);
    printf("\n");
    return bad;
}

static int ci_mode(void)
{
    const char *ci = getenv("CI");
    return ci && *ci && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

int main(int argc, char **argv)
{
    run_opts o = {.isolate = 1};
    expect_list x = {0};
    const char *expect_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            o.verbose = 1;
        else if (strcmp(argv[i], "--no-fork") == 0)
            o.isolate = 0;
        else if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
            expect_path = argv[++i];
        else if (!o.root)
            o.root = argv[i];
        else if (!o.filter)
            o.filter = argv[i];
        else {
            fprintf(stderr, "usage: %s DATA_DIR [FILTER] [-v] [--no-fork] [--expect LIST]\n", argv[0]);
            return 2;
        }
    }
    if (!o.root) {
        fprintf(stderr, "usage: %s DATA_DIR [FILTER] [-v] [--no-fork] [--expect LIST]\n", argv[0]);
        return 2;
    }
    struct stat st;
    if (stat(o.root, &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (ci_mode()) {
            printf("conformance data not found at %s — a failure in CI (CI=%s)\n", o.root,
                   getenv("CI"));
            return 1;
        }
        printf("SKIP: conformance data not found at %s (it lives in ../shared/conformance;"
               " CI always has it)\n", o.root);
        return 77;   /* CTest's SKIP_RETURN_CODE */
    }
    if (expect_path) {
        if (expect_read(&x, expect_path) != 0)
            return 1;
        o.expect = &x;
    }
    o.filter_is_family = o.filter && is_family_name(o.root, o.filter);
    printf("ONNX conformance: %s (rtol %g, atol %g)\n", o.root, RTOL, ATOL);
    tally t = {0};
    for (size_t i = 0; i < sizeof FOLDERS / sizeof FOLDERS[0]; i++)
        run_folder(&o, (int)i, &t);
    tally_print(&t);
    int failed = t.total[OUT_FAIL];
    int ran = t.total[OUT_PASS] + t.total[OUT_SKIP] + failed;
    int missed = o.expect ? expect_report(&o) : 0;
    free(t.fam);
    free(t.why);
    free(x.e);
    if (ran == 0) {
        printf("no test matched \"%s\"\n", o.filter ? o.filter : "");
        return 1;
    }
    return failed || missed ? 1 : 0;
}
