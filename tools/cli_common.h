/* cli_common.h — what the two command-line tools (ebmc, ebm) share: option
 * parsing from a table (which also writes --help, so help and parser cannot
 * disagree), one-line error reporting and model loading by content (the
 * front end that follows the import is compiler/pipeline.h).
 *
 * Exit codes: 0 success, 1 an error in the input (message from ebm_error),
 * 2 a usage error or a feature that is not implemented yet.
 */
#ifndef EBMC_CLI_COMMON_H
#define EBMC_CLI_COMMON_H

#include <stdio.h>

#include "ebm_abi.h"
#include "ebm_status.h"
#include "ir.h"
#include "npy.h"
#include "pipeline.h"

#ifndef EBMC_VERSION_STRING
#define EBMC_VERSION_STRING "0.1.0"
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

#define CLI_MAX_OPTS 48
#define CLI_MAX_POSITIONAL 4

typedef struct cli_opt {
    const char *name;      /* long name without "--" */
    char short_name;       /* 0 = none */
    const char *metavar;   /* NULL: a switch without value */
    const char *help;
    int informational;     /* like --help (e.g. --version): positionals need not be given */
} cli_opt;

/* A command: its options, its usage line and how many positionals it takes. */
typedef struct cli_cmd {
    const char *prog;      /* "ebmc" or "ebm info": used in messages and help */
    const char *usage;     /* "MODEL [options]" */
    const char *summary;   /* one sentence */
    void (*details)(FILE *f);   /* optional: more paragraphs after the summary, built from tables */
    const cli_opt *opts;   /* terminated by a zero row */
    int min_positional, max_positional;
    const char *positional_names;  /* "MODEL", for the missing-argument message */
} cli_cmd;

typedef struct cli_args {
    const char *value[CLI_MAX_OPTS];   /* per option row: its value, "" for a given switch, NULL if absent */
    const char *positional[CLI_MAX_POSITIONAL];
    int n_positional;
    int help;                          /* --help / -h seen */
    int informational;                 /* an informational option was given */
} cli_args;

/* Parses argv[0..argc) (argv[0] is the first argument, not the program)
 * against cmd.  Accepts --flag=value, --flag value, -o value, and "--" to end
 * options.  On error returns EBM_ERR_INVALID with a message naming the flag
 * and pointing at `PROG --help`. */
ebm_status cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_args *out, ebm_error *err);
/* The value of option `name` (NULL if absent); a switch given yields "". */
const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name);

void cli_print_help(FILE *f, const cli_cmd *cmd);

/* Prints "TOOL: message" as exactly one line on stderr (escaped with
 * cli_escape) and returns exit_code, for `return cli_fail(...)`. */
int cli_fail(const char *tool, const ebm_error *err, int exit_code);

/* What main returns: exit_code, unless it is CLI_EXIT_OK and writing stdout
 * failed (flushed and closed here: a full disk, /dev/full, a closed pipe),
 * which is reported as an error. */
int cli_finish(const char *tool, int exit_code);

/* Text from a file made safe for one line of a terminal: newline, CR and tab
 * become spaces; other control bytes (C0, DEL, the C1 controls) and bytes
 * that are not well-formed UTF-8 become "\xNN", so nothing a file holds can
 * move the cursor or reprogram the terminal.  Writes at most size bytes into
 * out (always terminated, cut at a whole character); returns the length. */
size_t cli_escape(const char *text, char *out, size_t size);

/* Replaces each occurrence of `from` in err's message with `to` (e.g. the
 * cached .so's path with the ONNX model the user named). */
void cli_error_rename(ebm_error *err, const char *from, const char *to);

/* Flag values: a whole number in [lo, hi], or a finite number; errors name
 * the flag (or metadata key) given as `what` and quote the value. */
ebm_status cli_parse_int(const char *what, const char *value, long long lo, long long hi, long long *out,
                         ebm_error *err);
ebm_status cli_parse_u64(const char *what, const char *value, unsigned long long *out, ebm_error *err);
ebm_status cli_parse_double(const char *what, const char *value, double *out, ebm_error *err);

/* ---- models ------------------------------------------------------------------ */

/* Whether the file starts with the ELF magic (a compiled model, by content). */
int cli_file_is_elf(const char *path);

/* FNV-1a 64 of the file's bytes as "fnv1a64:<16 hex digits>" (what ebmc
 * records as a compiled model's source_hash); hex needs 25 bytes. */
ebm_status cli_hash_file(const char *path, char *hex, size_t size, ebm_error *err);


/* Recognises the file by content (DESIGN.md) and imports an ONNX model with a
 * symbolic batch dimension.  Other known formats (compiled model, .npy, empty
 * file, ...) fail with a message saying what the file is. */
ebm_status cli_load_model(const char *path, ir_graph **out, ebm_error *err);
/* The same; double_inputs: a DOUBLE graph input is an input like a float one (for the float64 executor). */
ebm_status cli_load_model_with(const char *path, int double_inputs, ir_graph **out, ebm_error *err);

/* The input shape of a compiled model as an IR shape (printed [N,3,8,8]). */
ir_shape cli_desc_input_shape(const ebm_abi_model *d);

/* Checks samples x read from `path` against a model input of shape `want`
 * (batch dimension N first): float32 (or float64 when f64), same sample
 * dims; *n gets N.  The error names the file, both shapes, the input
 * (input_name may be NULL) and the model; f64_possible adds "(or pass --f64)"
 * to the float64 error.  A NaN/Inf value is an error naming the file and the
 * first such element (a ReLU can map NaN to a finite energy). */
ebm_status cli_check_samples(const char *model, const char *input_name, const ir_shape *want, const char *path,
                             const ebm_array *x, int f64, int f64_possible, int64_t *n, ebm_error *err);

/* ---- array layout (--layout) ---------------------------------------------------- */

/* How image arrays sit in .npy files: the model's own [N, C, H, W] (nchw, the
 * default) or channel-last [N, H, W, C] (nhwc, the layout of ebm init's
 * --input-shape H,W,C and of NumPy/TensorFlow images).  Arrays of nhwc are
 * transposed to the model's layout when read and back when written. */
typedef enum cli_layout { CLI_LAYOUT_NCHW, CLI_LAYOUT_NHWC } cli_layout;

/* The --layout help text, for every command that reads or writes samples. */
#define CLI_OPT_LAYOUT                                                                                          \
    {.name = "layout", .metavar = "nchw|nhwc",                                                                 \
     .help = "image arrays in files: nchw = the model's [N, C, H, W] (default), nhwc = channel-last "        \
             "[N, H, W, C] (as --input-shape H,W,C), transposed on read and written back as nhwc"}

/* Parses a --layout value (NULL: nchw); the error names the flag. */
ebm_status cli_layout_from_flag(const char *value, cli_layout *out, ebm_error *err);
/* With nhwc, fails unless the model's input `want` is an image [N, C, H, W]. */
ebm_status cli_layout_check_model(cli_layout l, const char *model, const ir_shape *want, ebm_error *err);
/* With nhwc, turns x (read from path) from [N, H, W, C] into the model's
 * [N, C, H, W] (`want`, N symbolic) in place, float32 or float64; with nchw
 * nothing.  Errors name --layout, the file and both shapes: a model input
 * that is not an image, or an array that is not [N, H, W, C] of its size. */
ebm_status cli_layout_read(cli_layout l, const char *model, const ir_shape *want, const char *path, ebm_array *x,
                           ebm_error *err);
/* Writes count samples of [C, H, W] (sample_rank 3; other ranks and nchw are
 * written as they are), float32 or float64, as .npy [lead..., count, ...] --
 * lead (n_lead dims, may be 0) before the sample axis -- transposed to
 * [H, W, C] with nhwc. */
ebm_status cli_layout_write(cli_layout l, const char *path, int f64, int n_lead, const int64_t *lead, int64_t count,
                            int sample_rank, const int64_t *sample_shape, const void *data, ebm_error *err);

/* Parses an --energy-head value; the error names the flag and the choices. */
ebm_status cli_head_from_flag(const char *value, ebm_head *out, ebm_error *err);
/* The energy head: the flag value if given, else the model's `ebm.energy_head`
 * metadata, else "output".  Errors name the flag or the metadata key. */
ebm_status cli_resolve_head(const ir_graph *g, const char *flag_value, ebm_head *out,
                            ebm_error *err);

#endif /* EBMC_CLI_COMMON_H */
