/* cli_common.c — option parsing, error reporting and model loading shared by
 * ebmc and ebm (see cli_common.h). */
#include "cli_common.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "onnx.h"

/* ---- options ------------------------------------------------------------------ */

static int opt_count(const cli_cmd *cmd)
{
    int n = 0;
    while (cmd->opts && cmd->opts[n].name)
        n++;
    return n;
}

static int opt_find_long(const cli_cmd *cmd, const char *name, size_t len)
{
    for (int i = 0; i < opt_count(cmd); i++)
        if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
            return i;
    return -1;
}

static int opt_find_short(const cli_cmd *cmd, char c)
{
    for (int i = 0; i < opt_count(cmd); i++)
        if (cmd->opts[i].short_name == c)
            return i;
    return -1;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static ebm_status parse_fail(const cli_cmd *cmd, ebm_error *err, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ebm_fail(err, EBM_ERR_INVALID, "%s (see '%s --help')", what, cmd->prog);
}

/* Stores option k's value, taking it from `attached` (after '=' or the short
 * flag) or from the next argument. */
static ebm_status take_value(const cli_cmd *cmd, int k, const char *flag, const char *attached,
                             int argc, char **argv, int *i, cli_args *out, ebm_error *err)
{
    const cli_opt *o = &cmd->opts[k];
    out->informational |= o->informational;
    if (!o->metavar) {
        if (attached)
            return parse_fail(cmd, err, "flag '%s' takes no value", flag);
        out->value[k] = "";
        return EBM_OK;
    }
    if (!attached) {
        if (*i + 1 >= argc)
            return parse_fail(cmd, err, "flag '%s' needs a value %s", flag, o->metavar);
        attached = argv[++*i];
    }
    if (attached[0] == '\0')   /* "--input=" is a slip, not a file named "" */
        return parse_fail(cmd, err, "flag '%s' needs a value %s, got an empty one", flag,
                          o->metavar);
    out->value[k] = attached;
    return EBM_OK;
}

static ebm_status parse_long(const cli_cmd *cmd, int argc, char **argv, int *i, cli_args *out,
                             ebm_error *err)
{
    const char *arg = argv[*i];
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    if (len == 4 && strncmp(name, "help", 4) == 0 && !eq) {
        out->help = 1;
        return EBM_OK;
    }
    int k = opt_find_long(cmd, name, len);
    char flag[128];
    snprintf(flag, sizeof flag, "--%.*s", (int)(len < 100 ? len : 100), name);
    if (k < 0)
        return parse_fail(cmd, err, "unknown flag '%s'", flag);
    return take_value(cmd, k, flag, eq ? eq + 1 : NULL, argc, argv, i, out, err);
}

static ebm_status parse_short(const cli_cmd *cmd, int argc, char **argv, int *i, cli_args *out,
                              ebm_error *err)
{
    const char *arg = argv[*i];
    if (arg[1] == 'h' && arg[2] == '\0') {
        out->help = 1;
        return EBM_OK;
    }
    int k = opt_find_short(cmd, arg[1]);
    char flag[3] = {'-', arg[1], '\0'};
    if (k < 0)
        return parse_fail(cmd, err, "unknown flag '%s'", arg);
    const char *attached = arg[2] ? arg + 2 : NULL;
    if (attached && !cmd->opts[k].metavar)
        return parse_fail(cmd, err, "unknown flag '%s'", arg);
    return take_value(cmd, k, flag, attached, argc, argv, i, out, err);
}

static ebm_status add_positional(const cli_cmd *cmd, const char *arg, cli_args *out,
                                 ebm_error *err)
{
    if (out->n_positional >= cmd->max_positional || out->n_positional >= CLI_MAX_POSITIONAL)
        return parse_fail(cmd, err, "unexpected argument '%s'", arg);
    out->positional[out->n_positional++] = arg;
    return EBM_OK;
}

ebm_status cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out, ebm_error *err)
{
    memset(out, 0, sizeof *out);
    if (opt_count(cmd) > CLI_MAX_OPTS)
        return ebm_fail(err, EBM_ERR_INTERNAL, "%s: too many options in the table", cmd->prog);
    int only_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        ebm_status st;
        if (only_positional || arg[0] != '-' || arg[1] == '\0')
            st = add_positional(cmd, arg, out, err);
        else if (strcmp(arg, "--") == 0) {
            only_positional = 1;
            st = EBM_OK;
        } else if (arg[1] == '-')
            st = parse_long(cmd, argc, argv, &i, out, err);
        else
            st = parse_short(cmd, argc, argv, &i, out, err);
        if (st)
            return st;
    }
    if (!out->help && !out->informational && out->n_positional < cmd->min_positional)
        return parse_fail(cmd, err, "missing %s", cmd->positional_names);
    return EBM_OK;
}

const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name)
{
    int k = opt_find_long(cmd, name, strlen(name));
    return k < 0 ? NULL : a->value[k];
}

void cli_print_help(FILE *f, const cli_cmd *cmd)
{
    fprintf(f, "usage: %s %s\n\n%s\n", cmd->prog, cmd->usage, cmd->summary);
    if (cmd->details)
        cmd->details(f);
    fprintf(f, "\noptions:\n");
    for (int i = 0; i < opt_count(cmd); i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[64];
        int n = o->short_name ? snprintf(left, sizeof left, "-%c, ", o->short_name)
                              : snprintf(left, sizeof left, "    ");
        snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s", o->name, o->metavar ? " " : "",
                 o->metavar ? o->metavar : "");
        fprintf(f, "  %-28s %s\n", left, o->help);
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help and exit");
}

/* The length of the UTF-8 character at s (1..4) if it is well formed and not a
 * C1 control (U+0080..U+009F), else 0.  Overlong forms, surrogates and code
 * points above U+10FFFF are not well formed. */
static int utf8_printable(const unsigned char *s)
{
    const unsigned char c = s[0];
    int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0)
        return 0;
    const unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (int k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return c == 0xC2 && s[1] <= 0x9F ? 0 : n;
}

size_t cli_escape(const char *text, char *out, size_t size)
{
    size_t k = 0;
    if (size == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p;) {
        char piece[8];
        size_t n;
        int u = *p >= 0x80 ? utf8_printable(p) : 0;
        if (u > 0) {
            n = (size_t)u;
            memcpy(piece, p, n);
        } else if (*p == '\n' || *p == '\r' || *p == '\t') {
            n = 1;
            piece[0] = ' ';
        } else if (*p < 0x20 || *p >= 0x7F) {
            n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
        } else {
            n = 1;
            piece[0] = (char)*p;
        }
        if (k + n >= size)
            break;
        memcpy(out + k, piece, n);
        k += n;
        p += u > 0 ? (size_t)u : 1;
    }
    out[k] = '\0';
    return k;
}

int cli_fail(const char *tool, const ebm_error *err, int exit_code)
{
    char line[4 * EBM_ERROR_MSG_MAX];
    cli_escape(err->msg[0] ? err->msg : ebm_status_name(err->code), line, sizeof line);
    fprintf(stderr, "%s: %s\n", tool, line);
    return exit_code;
}

int cli_finish(const char *tool, int exit_code)
{
    /* fclose also reports what a buffered write could not say before (a full
     * disk, a closed pipe, /dev/full) */
    int bad = fflush(stdout) != 0 || ferror(stdout);
    int saved = errno;
    if (fclose(stdout) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (!bad || exit_code != CLI_EXIT_OK)
        return exit_code;
    ebm_error err;
    ebm_fail(&err, EBM_ERR_IO, "<stdout>: write failed: %s", saved ? strerror(saved) : "I/O error");
    return cli_fail(tool, &err, CLI_EXIT_ERROR);
}

/* ---- flag values ---------------------------------------------------------------- */

ebm_status cli_parse_int(const char *what, const char *value, long long lo, long long hi, long long *out,
                         ebm_error *err)
{
    char *end = NULL;
    errno = 0;
    long long v = value ? strtoll(value, &end, 10) : 0;
    if (!value || errno || end == value || *end || v < lo || v > hi)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a whole number in %lld..%lld", what,
                        value ? value : "", lo, hi);
    *out = v;
    return EBM_OK;
}

ebm_status cli_parse_u64(const char *what, const char *value, unsigned long long *out, ebm_error *err)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = value && value[0] != '-' ? strtoull(value, &end, 0) : 0;
    if (!value || value[0] == '-' || errno || end == value || *end)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a whole number in 0..2^64-1", what,
                        value ? value : "");
    *out = v;
    return EBM_OK;
}

ebm_status cli_parse_double(const char *what, const char *value, double *out, ebm_error *err)
{
    char *end = NULL;
    errno = 0;
    double v = value ? strtod(value, &end) : 0;
    if (!value || end == value || *end || !isfinite(v) || (errno == ERANGE && v != 0))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: '%s' is not a finite number", what, value ? value : "");
    *out = v;
    return EBM_OK;
}

/* ---- models ------------------------------------------------------------------- */

int cli_file_is_elf(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned char head[4] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, "\x7f" "ELF", 4) == 0;
}

ebm_status cli_hash_file(const char *path, char *hex, size_t size, ebm_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = BASE_FNV1A_INIT;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = base_fnv1a(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return ebm_fail(err, EBM_ERR_IO, "%s: read error (is it a directory?)", path);
    snprintf(hex, size, "fnv1a64:%016llx", (unsigned long long)h);
    return EBM_OK;
}


/* Names formats we can tell from the first bytes, so a wrong file gets a
 * message saying what it is rather than a protobuf decoding error. */
static ebm_status sniff_model(const char *path, ebm_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return ebm_fail(err, EBM_ERR_IO, "%s: is a directory, expected an ONNX model file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[8] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error)
        return ebm_fail(err, EBM_ERR_IO, "%s: read error", path);
    if (n == 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: empty file, expected an ONNX model", path);
    if (n >= 4 && memcmp(head, "\x7f" "ELF", 4) == 0)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: is a compiled model (ELF shared library); "
                        "this command needs the ONNX model", path);
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: is a NumPy .npy array, expected an ONNX model",
                        path);
    if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s: is gzip-compressed, expected an ONNX model "
                        "(decompress it first)", path);
    return EBM_OK;
}

ebm_status cli_load_model_with(const char *path, int double_inputs, ir_graph **out, ebm_error *err)
{
    *out = NULL;
    ebm_status st = sniff_model(path, err);
    if (st)
        return st;
    ir_import_options opt = {.batch_symbolic = 1, .double_inputs = double_inputs};
    return ir_onnx_import_file(path, &opt, out, err);
}

ebm_status cli_load_model(const char *path, ir_graph **out, ebm_error *err)
{
    return cli_load_model_with(path, 0, out, err);
}

_Static_assert(IR_MAX_RANK == EBM_ABI_MAX_RANK, "the IR and the ABI have the same rank limit");

ir_shape cli_desc_input_shape(const ebm_abi_model *d)
{
    ir_shape s = {.rank = d->input_rank};
    s.d[0] = IR_DIM_N;
    for (int i = 1; i < d->input_rank; i++)
        s.d[i] = d->input_shape[i];
    return s;
}

ebm_status cli_check_samples(const char *model, const char *input_name, const ir_shape *want, const char *path,
                             const ebm_array *x, int f64, int f64_possible, int64_t *n, ebm_error *err)
{
    if (x->dtype == EBM_NPY_I64 || (x->dtype == EBM_NPY_F64 && !f64))
        return ebm_fail(err, EBM_ERR_INVALID, "%s: %s array, expected float32 ('<f4')%s", path,
                        x->dtype == EBM_NPY_I64 ? "integer" : "float64",
                        x->dtype == EBM_NPY_F64 && f64_possible ? " (or pass --f64)" : "");
    int match = x->rank == want->rank && x->rank >= 1 && want->d[0] == IR_DIM_N;
    for (int i = 1; match && i < x->rank; i++)
        match = want->d[i] == x->shape[i];
    if (!match) {
        char ws[128], got[128];
        ir_shape_str(want, ws, sizeof ws);
        if (x->rank <= IR_MAX_RANK) {
            ir_shape xs = {.rank = x->rank};
            memcpy(xs.d, x->shape, sizeof xs.d[0] * (size_t)x->rank);
            ir_shape_str(&xs, got, sizeof got);
        } else {
            snprintf(got, sizeof got, "of rank %d", x->rank);
        }
        /* [N, H, W, C] for an image input [N, C, H, W]: the channel-last layout */
        int hwc = want->rank == 4 && x->rank == 4 && x->shape[1] == want->d[2] && x->shape[2] == want->d[3] &&
                  x->shape[3] == want->d[1];
        return ebm_fail(err, EBM_ERR_SHAPE, "%s: shape %s, expected %s (input%s%s%s of %s)%s", path, got, ws,
                        input_name ? " '" : "", input_name ? input_name : "", input_name ? "'" : "", model,
                        hwc ? "; it is channel-last [N,H,W,C]: pass --layout nhwc" : "");
    }
    *n = x->shape[0];
    return ebm_array_check_finite(x, path, err);
}

/* ---- array layout ------------------------------------------------------------------ */

ebm_status cli_layout_from_flag(const char *value, cli_layout *out, ebm_error *err)
{
    if (!value || strcmp(value, "nchw") == 0)
        *out = CLI_LAYOUT_NCHW;
    else if (strcmp(value, "nhwc") == 0)
        *out = CLI_LAYOUT_NHWC;
    else
        return ebm_fail(err, EBM_ERR_INVALID, "--layout: '%s' is not nchw or nhwc", value);
    return EBM_OK;
}

/* count samples [a, b, c] -> [b, c, a] (to_last) or [b, c, a] -> [a, b, c]
 * (!to_last), elements of esize bytes. */
static void permute_samples(const char *in, char *out, size_t esize, int64_t count, int64_t a, int64_t b, int64_t c,
                            int to_last)
{
    const int64_t per = a * b * c;
    for (int64_t s = 0; s < count; s++) {
        const char *src = in + (size_t)(s * per) * esize;
        char *dst = out + (size_t)(s * per) * esize;
        for (int64_t i = 0; i < a; i++)
            for (int64_t j = 0; j < b; j++)
                for (int64_t k = 0; k < c; k++) {
                    const int64_t first = (i * b + j) * c + k, last = (j * c + k) * a + i;
                    memcpy(dst + (size_t)(to_last ? last : first) * esize,
                           src + (size_t)(to_last ? first : last) * esize, esize);
                }
    }
}

static void shape_text(int rank, const int64_t *d, char *buf, size_t size)
{
    ir_shape s = {.rank = rank <= IR_MAX_RANK ? rank : 0};
    if (rank > IR_MAX_RANK) {
        snprintf(buf, size, "of rank %d", rank);
        return;
    }
    memcpy(s.d, d, sizeof s.d[0] * (size_t)rank);
    ir_shape_str(&s, buf, size);
}

ebm_status cli_layout_check_model(cli_layout l, const char *model, const ir_shape *want, ebm_error *err)
{
    char ws[128];
    ir_shape_str(want, ws, sizeof ws);
    if (l == CLI_LAYOUT_NHWC && want->rank != 4)
        return ebm_fail(err, EBM_ERR_SHAPE, "--layout nhwc: the input of %s is %s, not an image [N,C,H,W]; drop "
                        "--layout", model, ws);
    return EBM_OK;
}

ebm_status cli_layout_read(cli_layout l, const char *model, const ir_shape *want, const char *path, ebm_array *x,
                           ebm_error *err)
{
    if (l == CLI_LAYOUT_NCHW)
        return EBM_OK;
    char ws[128], got[128];
    ir_shape_str(want, ws, sizeof ws);
    shape_text(x->rank, x->shape, got, sizeof got);
    ebm_status st = cli_layout_check_model(l, model, want, err);
    if (st)
        return st;
    const int64_t C = want->d[1], H = want->d[2], W = want->d[3];
    if (x->rank != 4 || x->shape[1] != H || x->shape[2] != W || x->shape[3] != C)
        return ebm_fail(err, EBM_ERR_SHAPE, "--layout nhwc: %s: shape %s, expected [N,%lld,%lld,%lld] (N,H,W,C for "
                        "the input %s of %s)", path, got, (long long)H, (long long)W, (long long)C, ws, model);
    if (x->dtype != EBM_NPY_F32 && x->dtype != EBM_NPY_F64)
        return EBM_OK;   /* the type check that follows says what is wrong */
    const size_t esize = x->dtype == EBM_NPY_F64 ? sizeof(double) : sizeof(float);
    const int64_t numel = ebm_array_numel(x);
    char *t = malloc((size_t)(numel + 1) * esize);
    if (!t)
        return ebm_fail(err, EBM_ERR_NOMEM, "--layout nhwc: %s: out of memory for %lld values", path,
                        (long long)numel);
    permute_samples(x->data, t, esize, x->shape[0], C, H, W, 0);
    free(x->data);
    x->data = t;
    x->shape[1] = C, x->shape[2] = H, x->shape[3] = W;
    return EBM_OK;
}

ebm_status cli_layout_write(cli_layout l, const char *path, int f64, int n_lead, const int64_t *lead, int64_t count,
                            int sample_rank, const int64_t *sample_shape, const void *data, ebm_error *err)
{
    int64_t shape[EBM_NPY_MAX_RANK];
    int rank = 0;
    if (n_lead + 1 + sample_rank > EBM_NPY_MAX_RANK)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: an array of rank %d is beyond .npy's %d", path,
                        n_lead + 1 + sample_rank, EBM_NPY_MAX_RANK);
    int64_t total = count;
    for (int i = 0; i < n_lead; i++) {
        shape[rank++] = lead[i];
        total *= lead[i];
    }
    shape[rank++] = count;
    const int nhwc = l == CLI_LAYOUT_NHWC && sample_rank == 3;
    for (int i = 0; i < sample_rank; i++)
        shape[rank++] = nhwc ? sample_shape[(i + 1) % 3] : sample_shape[i];
    const ebm_npy_dtype dt = f64 ? EBM_NPY_F64 : EBM_NPY_F32;
    if (!nhwc)
        return ebm_npy_write(path, dt, rank, shape, data, err);
    const size_t esize = f64 ? sizeof(double) : sizeof(float);
    const int64_t per = sample_shape[0] * sample_shape[1] * sample_shape[2];
    char *t = malloc((size_t)(total * per + 1) * esize);
    if (!t)
        return ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory for %lld samples", path, (long long)total);
    permute_samples(data, t, esize, total, sample_shape[0], sample_shape[1], sample_shape[2], 1);
    ebm_status st = ebm_npy_write(path, dt, rank, shape, t, err);
    free(t);
    return st;
}

static const char *const head_choices = "output, sum, neg-logsumexp or logsumexp";

ebm_status cli_head_from_flag(const char *value, ebm_head *out, ebm_error *err)
{
    if (ebm_head_parse(value, out) != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "--energy-head: unknown head '%s' (expected %s)",
                        value, head_choices);
    return EBM_OK;
}

ebm_status cli_resolve_head(const ir_graph *g, const char *flag_value, ebm_head *out,
                            ebm_error *err)
{
    if (flag_value)
        return cli_head_from_flag(flag_value, out, err);
    const char *meta = ir_graph_get_meta(g, "ebm.energy_head");
    *out = EBM_HEAD_OUTPUT;
    if (meta && ebm_head_parse(meta, out) != 0)
        return ebm_fail(err, EBM_ERR_INVALID, "%s: metadata ebm.energy_head = '%s' is not a "
                        "known head (expected %s); override it with --energy-head",
                        g->source ? g->source : "model", meta, head_choices);
    return EBM_OK;
}

void cli_error_rename(ebm_error *err, const char *from, const char *to)
{
    if (!err || !from || !to || !from[0] || !strstr(err->msg, from))
        return;
    char out[sizeof err->msg];
    size_t k = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = err->msg; *p && k + 1 < sizeof out;) {
        if (strncmp(p, from, fl) == 0 && k + tl < sizeof out) {
            memcpy(out + k, to, tl);
            k += tl;
            p += fl;
        } else {
            out[k++] = *p++;
        }
    }
    out[k] = '\0';
    memcpy(err->msg, out, k + 1);
}
