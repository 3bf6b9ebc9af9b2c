/* config.c — JSON model configurations (jansson) applied to a zoo_spec.
 *
 *   {"name": "my-ebm", "input_shape": [28, 28, 1], "hidden_dims": [32, 64],
 *    "activation": "silu", "energy_type": "deep", "use_residual": false,
 *    "use_bias": true, "kernel_size": 3, "output_dim": 1, "norm_groups": 4,
 *    "quadratic": true,
 *    "parameters": {"mcmc_steps": 60, "step_size": 0.01, "noise_scale": 0.005,
 *                   "grad_clip": 0.03, "clamp": [-1, 1], "temperature": 1,
 *                   "buffer_capacity": 4096, "reinit_prob": 0.05, "alpha": 0.01}}
 *
 * The seed's form is accepted as well: it names the class, gives input_dim
 * as an array and nests the network settings under "parameters" beside the
 * sampler's:
 *
 *   {"name": "my-ebm", "model_class": "EBM", "input_dim": [28, 28, 1],
 *    "hidden_dims": [32, 64], "output_dim": 1, "activation": "silu",
 *    "parameters": {"energy_type": "cnn", "use_residual": false, "use_bias": true,
 *                   "kernel_size": 3, "mcmc_steps": 60, "step_size": 0.01, ...}}
 *
 * model_class is "EBM" (energy_type mlp or cnn; without one, mlp for [D]
 * inputs and cnn for images) or "DeepEBM" (energy_type deep), also as a dotted
 * path ending in either; hidden_dims, activation and output_dim may sit at
 * the top or under parameters.  input_dim is D, [D] or [H, W, C] in both
 * forms.  A file is in one form: a network setting at the top beside
 * model_class, or under parameters without it, is an error naming the field,
 * as is a field given at both levels.  zoo_config_emit writes the seed's form.
 *
 * Every field is optional and replaces what the starting spec (a preset or
 * the default) has.  Strict on purpose: an unknown field is an error, since
 * a typo that is silently ignored trains the wrong model; every message
 * names the file, the field, what was expected and what was found.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoo.h"
#include "text.h"

#define CONFIG_MAX_BYTES (1 << 20)

typedef struct cfg {
    const char *label;     /* the file, for messages */
    ebm_error *err;
    int gave_dim, gave_shape;
    int nested;            /* the seed's form: model_class given */
    int gave_energy_type;
} cfg;

typedef ebm_status (*field_fn)(cfg *c, const char *field, json_t *v, zoo_spec *s);

typedef struct field {
    const char *name;
    field_fn fn;
} field;

/* ---- messages ------------------------------------------------------------------- */

/* What a JSON value is, for "found ...". */
static void describe(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: snprintf(buf, size, "an object"); break;
    case JSON_ARRAY: snprintf(buf, size, "an array of %zu", json_array_size(v)); break;
    case JSON_STRING: snprintf(buf, size, "the string \"%.40s\"", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, size, "%lld", (long long)json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, size, "%.9g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, size, "true"); break;
    case JSON_FALSE: snprintf(buf, size, "false"); break;
    default: snprintf(buf, size, "null"); break;
    }
}

static ebm_status bad(cfg *c, const char *field, const char *expected, const json_t *found)
{
    char what[96];
    describe(found, what, sizeof what);
    return ebm_fail(c->err, EBM_ERR_INVALID, "%s: field '%s': expected %s, found %s", c->label, field, expected,
                    what);
}

/* ---- typed values ------------------------------------------------------------------- */

/* An integer in [lo, hi]; an integral real (128.0) counts. */
static ebm_status get_int(cfg *c, const char *field, const json_t *v, int64_t lo, int64_t hi,
                          const char *expected, int64_t *out)
{
    double d = json_is_real(v) ? json_real_value(v) : 0;
    if (json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi) {
        *out = json_integer_value(v);
        return EBM_OK;
    }
    if (json_is_real(v) && d == floor(d) && d >= (double)lo && d <= (double)hi) {
        *out = (int64_t)d;
        return EBM_OK;
    }
    return bad(c, field, expected, v);
}

typedef enum bound_kind { AT_LEAST, ABOVE } bound_kind;

/* A finite number >= lo (or > lo) and <= hi. */
static ebm_status get_num(cfg *c, const char *field, const json_t *v, double lo, bound_kind k, double hi,
                          const char *expected, double *out)
{
    double d = json_number_value(v);
    if (json_is_number(v) && isfinite(d) && (k == ABOVE ? d > lo : d >= lo) && d <= hi) {
        *out = d;
        return EBM_OK;
    }
    return bad(c, field, expected, v);
}

static ebm_status get_bool(cfg *c, const char *field, const json_t *v, int *out)
{
    if (!json_is_boolean(v))
        return bad(c, field, "true or false", v);
    *out = json_is_true(v);
    return EBM_OK;
}

/* Integers >= 1 of an array with lo..hi entries; *n gets the count. */
static ebm_status get_dims(cfg *c, const char *field, const json_t *v, size_t lo, size_t hi, int64_t max,
                           int64_t *out, int *n)
{
    char expected[96];
    snprintf(expected, sizeof expected, lo == hi ? "an array of %zu positive integers"
                                                 : "an array of %zu to %zu positive integers", lo, hi);
    if (!json_is_array(v) || json_array_size(v) < lo || json_array_size(v) > hi)
        return bad(c, field, expected, v);
    for (size_t i = 0; i < json_array_size(v); i++) {
        char item[64], want[64];
        snprintf(item, sizeof item, "%s[%zu]", field, i);
        snprintf(want, sizeof want, "a positive integer (1..%lld)", (long long)max);
        ebm_status st = get_int(c, item, json_array_get(v, i), 1, max, want, &out[i]);
        if (st)
            return st;
    }
    *n = (int)json_array_size(v);
    return EBM_OK;
}

/* ---- unknown fields ------------------------------------------------------------------ */

/* Edit distance, for "did you mean"; names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40)
        return 99;
    size_t row[41];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static ebm_status unknown_field(cfg *c, const char *prefix, const char *key, const field *known, size_t n)
{
    char list[512] = "", hint[96] = "";
    size_t at = 0, best = 3;
    for (size_t i = 0; i < n; i++) {
        base_appendf(list, sizeof list, &at, "%s%s", i ? ", " : "", known[i].name);
        size_t d = distance(key, known[i].name);
        if (d < best) {
            best = d;
            snprintf(hint, sizeof hint, "; did you mean '%s%s'?", prefix, known[i].name);
        }
    }
    return ebm_fail(c->err, EBM_ERR_INVALID, "%s: unknown field '%s%.64s'%s (known fields: %s)", c->label, prefix,
                    key, hint, list);
}

static ebm_status apply_object(cfg *c, const char *prefix, json_t *obj, const field *known, size_t n,
                               zoo_spec *s)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(known[i].name, key) != 0)
            i++;
        if (i == n)
            return unknown_field(c, prefix, key, known, n);
        char path[128];
        snprintf(path, sizeof path, "%s%s", prefix, key);
        ebm_status st = known[i].fn(c, path, v, s);
        if (st)
            return st;
    }
    return EBM_OK;
}

/* ---- parameters: the sampler and training defaults ---------------------------------------- */

static ebm_status p_steps(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_int(c, f, v, 0, INT64_C(1) << 30, "an integer >= 0", &s->defaults.mcmc_steps);
}

static ebm_status p_step_size(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_num(c, f, v, 0, ABOVE, HUGE_VAL, "a number > 0", &s->defaults.step_size);
}

static ebm_status p_noise(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    if (json_is_string(v) && strcmp(json_string_value(v), "auto") == 0) {
        s->defaults.noise_scale = -1;
        return EBM_OK;
    }
    return get_num(c, f, v, 0, AT_LEAST, HUGE_VAL, "a number >= 0 or \"auto\"", &s->defaults.noise_scale);
}

static ebm_status p_grad_clip(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_num(c, f, v, 0, AT_LEAST, HUGE_VAL, "a number >= 0 (0 = off)", &s->defaults.grad_clip);
}

static ebm_status p_clamp(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    static const char *const want = "[lo, hi] with lo < hi, \"none\" or null";
    if (json_is_null(v) || (json_is_string(v) && strcmp(json_string_value(v), "none") == 0)) {
        s->defaults.clamp = 0;
        return EBM_OK;
    }
    json_t *lo = json_array_get(v, 0), *hi = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_number(lo) || !json_is_number(hi) ||
        !isfinite(json_number_value(lo)) || !isfinite(json_number_value(hi)) ||
        json_number_value(lo) >= json_number_value(hi))
        return bad(c, f, want, v);
    s->defaults.clamp = 1;
    s->defaults.clamp_lo = json_number_value(lo);
    s->defaults.clamp_hi = json_number_value(hi);
    return EBM_OK;
}

static ebm_status p_temperature(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_num(c, f, v, 0, ABOVE, HUGE_VAL, "a number > 0", &s->defaults.temperature);
}

static ebm_status p_buffer(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_int(c, f, v, 1, INT64_C(1) << 40, "an integer >= 1", &s->defaults.buffer_capacity);
}

static ebm_status p_reinit(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_num(c, f, v, 0, AT_LEAST, 1, "a number in [0, 1]", &s->defaults.reinit_prob);
}

static ebm_status p_alpha(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_num(c, f, v, 0, AT_LEAST, HUGE_VAL, "a number >= 0", &s->defaults.alpha);
}

static const field parameter_fields[] = {
    {"mcmc_steps", p_steps},   {"step_size", p_step_size},         {"noise_scale", p_noise},
    {"grad_clip", p_grad_clip}, {"clamp", p_clamp},                {"temperature", p_temperature},
    {"buffer_capacity", p_buffer}, {"reinit_prob", p_reinit},      {"alpha", p_alpha},
};

/* ---- the model fields ------------------------------------------------------------------------ */

static ebm_status f_name(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    const char *str = json_string_value(v);
    int printable = str && str[0] && strlen(str) < sizeof s->name;
    for (const char *p = str; printable && *p; p++)
        printable = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (!printable) {
        char want[64];
        snprintf(want, sizeof want, "a non-empty string of printable characters, at most %zu",
                 sizeof s->name - 1);
        return bad(c, f, want, v);
    }
    snprintf(s->name, sizeof s->name, "%s", str);
    return EBM_OK;
}

/* D (features per sample), [D], or [H, W, C] as the seed writes image sizes. */
static ebm_status f_input_dim(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    static const char *const want = "a positive integer D, [D] or [H, W, C] (features per sample, or an image)";
    c->gave_dim = 1;
    if (!json_is_array(v))
        return get_int(c, f, v, 1, INT64_C(1) << 24, want, &s->input_dim);
    if (json_array_size(v) != 1 && json_array_size(v) != 3)
        return bad(c, f, want, v);
    int n;
    int64_t d[3];
    ebm_status st = get_dims(c, f, v, 1, 3, json_array_size(v) == 1 ? INT64_C(1) << 24 : INT64_C(1) << 14, d, &n);
    if (st)
        return st;
    if (n == 1) {
        s->input_dim = d[0];
    } else {
        memcpy(s->input_hwc, d, sizeof d);
        s->input_dim = 0;
    }
    return EBM_OK;
}

/* [H, W, C] as users write image sizes; the graph input is [N, C, H, W]. */
static ebm_status f_input_shape(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    int n;
    int64_t hwc[3];
    ebm_status st = get_dims(c, f, v, 3, 3, INT64_C(1) << 14, hwc, &n);
    if (st)
        return st;
    memcpy(s->input_hwc, hwc, sizeof hwc);
    s->input_dim = 0;
    c->gave_shape = 1;
    return EBM_OK;
}

static ebm_status f_hidden(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    int64_t h[ZOO_MAX_LAYERS];
    int n = 0;   /* set on success; initialised for gcc -O2's -Wmaybe-uninitialized */
    ebm_status st = get_dims(c, f, v, 1, ZOO_MAX_LAYERS, INT64_C(1) << 20, h, &n);
    if (st)
        return st;
    memcpy(s->hidden, h, sizeof h[0] * (size_t)n);
    s->n_hidden = n;
    return EBM_OK;
}

static ebm_status f_output_dim(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    int64_t d;
    return get_int(c, f, v, 1, 1, "1 (an energy-based model gives one energy per sample)", &d);
}

static ebm_status f_activation(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    ir_nn_act_kind a;
    if (!json_is_string(v) || ir_nn_act_parse(json_string_value(v), &a) != 0 || a == IR_NN_IDENTITY)
        return bad(c, f, "one of \"relu\", \"silu\", \"swish\", \"gelu\", \"elu\", \"leaky_relu\", "
                   "\"softplus\", \"tanh\"", v);
    s->act = a;
    return EBM_OK;
}

static ebm_status f_energy_type(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    c->gave_energy_type = 1;
    for (int k = 0; json_is_string(v) && k < ZOO_KIND_COUNT; k++) {
        if (strcmp(json_string_value(v), zoo_kind_name((zoo_kind)k)) == 0) {
            s->kind = (zoo_kind)k;
            return EBM_OK;
        }
    }
    char expected[128] = "one of";   /* the names of zoo_kind_name's table */
    for (int k = 0; k < ZOO_KIND_COUNT; k++) {
        size_t len = strlen(expected);
        snprintf(expected + len, sizeof expected - len, "%s \"%s\"", k ? "," : "", zoo_kind_name((zoo_kind)k));
    }
    return bad(c, f, expected, v);
}

static ebm_status f_residual(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_bool(c, f, v, &s->use_residual);
}

static ebm_status f_bias(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_bool(c, f, v, &s->use_bias);
}

static ebm_status f_kernel(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    int64_t k = 0;   /* set on success; initialised for gcc -O2's -Wmaybe-uninitialized */
    ebm_status st = get_int(c, f, v, 1, 31, "an odd integer in 1..31", &k);
    if (!st && k % 2 == 0)
        return bad(c, f, "an odd integer in 1..31 (\"same\" padding needs a centre)", v);
    if (!st)
        s->kernel = k;
    return st;
}

static ebm_status f_norm_groups(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_int(c, f, v, 1, 1 << 20, "an integer >= 1 (GroupNorm groups at most)", &s->norm_groups);
}

static ebm_status f_quadratic(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    return get_bool(c, f, v, &s->quadratic);
}

/* The network settings of the seed's form, under "parameters" (also
 * accepted at the top in either form: hidden_dims, activation, output_dim). */
static const char *const network_fields[] = {"energy_type", "use_residual", "use_bias", "kernel_size",
                                             "norm_groups", "quadratic"};
static const char *const either_level_fields[] = {"hidden_dims", "activation", "output_dim"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int is_one_of(const char *key, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, names[i]) == 0)
            return 1;
    return 0;
}

/* The seed's form's parameters: the sampler's and the network's settings. */
static const field nested_parameter_fields[] = {
    {"mcmc_steps", p_steps},       {"step_size", p_step_size},     {"noise_scale", p_noise},
    {"grad_clip", p_grad_clip},    {"clamp", p_clamp},             {"temperature", p_temperature},
    {"buffer_capacity", p_buffer}, {"reinit_prob", p_reinit},      {"alpha", p_alpha},
    {"energy_type", f_energy_type}, {"use_residual", f_residual},  {"use_bias", f_bias},
    {"kernel_size", f_kernel},     {"norm_groups", f_norm_groups}, {"quadratic", f_quadratic},
    {"hidden_dims", f_hidden},     {"activation", f_activation},   {"output_dim", f_output_dim},
};
static const size_t n_nested_parameter_fields = COUNT(nested_parameter_fields);

static ebm_status f_parameters(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    if (!json_is_object(v))
        return bad(c, f, "an object of sampler and training settings", v);
    if (c->nested)
        return apply_object(c, "parameters.", v, nested_parameter_fields, n_nested_parameter_fields, s);
    const char *key;
    json_t *item;
    json_object_foreach(v, key, item) {
        if (is_one_of(key, network_fields, COUNT(network_fields)) ||
            is_one_of(key, either_level_fields, COUNT(either_level_fields)))
            return ebm_fail(c->err, EBM_ERR_INVALID, "%s: field 'parameters.%s': a network setting under "
                            "parameters is the seed's form, which names its model_class (\"EBM\" or "
                            "\"DeepEBM\"); add model_class, or write '%s' at the top level (the flat form)",
                            c->label, key, key);
    }
    return apply_object(c, "parameters.", v, parameter_fields, COUNT(parameter_fields), s);
}

static ebm_status f_model_class(cfg *c, const char *f, json_t *v, zoo_spec *s)
{
    (void)s;
    (void)f;
    (void)v;
    return EBM_OK;   /* read by apply_root before the other fields */
}

static const field model_fields[] = {
    {"name", f_name},
    {"input_dim", f_input_dim},
    {"input_shape", f_input_shape},
    {"hidden_dims", f_hidden},
    {"output_dim", f_output_dim},
    {"activation", f_activation},
    {"energy_type", f_energy_type},
    {"use_residual", f_residual},
    {"use_bias", f_bias},
    {"kernel_size", f_kernel},
    {"norm_groups", f_norm_groups},
    {"quadratic", f_quadratic},
    {"parameters", f_parameters},
};

/* The seed's form: the top level (its parameters are above). */
static const field nested_fields[] = {
    {"name", f_name},
    {"model_class", f_model_class},
    {"input_dim", f_input_dim},
    {"hidden_dims", f_hidden},
    {"output_dim", f_output_dim},
    {"activation", f_activation},
    {"parameters", f_parameters},
};


typedef enum model_class { CLASS_EBM, CLASS_DEEP_EBM } model_class;

/* "EBM" or "DeepEBM", or a dotted path ending in either (a.b.DeepEBM). */
static ebm_status parse_model_class(cfg *c, const json_t *v, model_class *out)
{
    static const char *const want = "\"EBM\" (an mlp or cnn energy) or \"DeepEBM\" (the deep energy), or a "
                                    "dotted path ending in either";
    const char *str = json_string_value(v);
    if (!str)
        return bad(c, "model_class", want, v);
    const char *dot = strrchr(str, '.'), *last = dot ? dot + 1 : str;
    if (strcmp(last, "EBM") == 0)
        *out = CLASS_EBM;
    else if (strcmp(last, "DeepEBM") == 0)
        *out = CLASS_DEEP_EBM;
    else
        return bad(c, "model_class", want, v);
    return EBM_OK;
}

/* The seed's form: checks it is not mixed with the flat one, applies it and
 * settles the kind from model_class and parameters.energy_type. */
static ebm_status apply_nested(cfg *c, json_t *root, zoo_spec *s)
{
    model_class mc = CLASS_EBM;   /* set on success; initialised for gcc -O2's -Wmaybe-uninitialized */
    ebm_status st = parse_model_class(c, json_object_get(root, "model_class"), &mc);
    if (st)
        return st;
    json_t *params = json_object_get(root, "parameters");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (is_one_of(key, network_fields, COUNT(network_fields)))
            return ebm_fail(c->err, EBM_ERR_INVALID, "%s: field '%s' at the top level beside model_class: the seed's "
                            "form takes it as 'parameters.%s' (this file mixes the flat and the nested form)",
                            c->label, key, key);
        if (strcmp(key, "input_shape") == 0)
            return ebm_fail(c->err, EBM_ERR_INVALID, "%s: field 'input_shape' beside model_class: the seed's form "
                            "gives the input as 'input_dim' [H, W, C] (this file mixes the flat and the nested form)",
                            c->label);
        if (json_is_object(params) && json_object_get(params, key) && strcmp(key, "parameters") != 0)
            return ebm_fail(c->err, EBM_ERR_INVALID, "%s: fields '%s' and 'parameters.%s' are both given; give it "
                            "once", c->label, key, key);
    }
    c->nested = 1;
    st = apply_object(c, "", root, nested_fields, COUNT(nested_fields), s);
    if (st)
        return st;
    if (mc == CLASS_DEEP_EBM && c->gave_energy_type && s->kind != ZOO_DEEP)
        return ebm_fail(c->err, EBM_ERR_INVALID, "%s: model_class \"DeepEBM\" with parameters.energy_type \"%s\": "
                        "DeepEBM is the deep energy (energy_type \"deep\" or none); use model_class \"EBM\" for "
                        "\"%s\"", c->label, zoo_kind_name(s->kind), zoo_kind_name(s->kind));
    if (mc == CLASS_DEEP_EBM)
        s->kind = ZOO_DEEP;
    else if (!c->gave_energy_type)
        s->kind = s->input_dim > 0 ? ZOO_MLP : ZOO_CNN;
    return EBM_OK;
}

/* ---- entry points ------------------------------------------------------------------------------ */

static ebm_status apply_root(cfg *c, json_t *root, zoo_spec *s)
{
    if (!json_is_object(root)) {
        char what[96];
        describe(root, what, sizeof what);
        return ebm_fail(c->err, EBM_ERR_INVALID, "%s: expected a JSON object {...} at the top level, found %s",
                        c->label, what);
    }
    ebm_status st = json_object_get(root, "model_class")
                        ? apply_nested(c, root, s)
                        : apply_object(c, "", root, model_fields, COUNT(model_fields), s);
    if (!st && c->gave_dim && c->gave_shape)
        st = ebm_fail(c->err, EBM_ERR_INVALID, "%s: fields 'input_dim' and 'input_shape' are both given; a model "
                      "has one input: input_dim for tabular data, input_shape [H, W, C] for images", c->label);
    return st;
}

ebm_status zoo_config_text(const char *json, const char *label, zoo_spec *s, ebm_error *err)
{
    cfg c = {.label = label ? label : "<config>", .err = err};
    json_error_t je;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ebm_fail(err, EBM_ERR_FORMAT, "%s:%d:%d: not valid JSON: %s", c.label, je.line, je.column, je.text);
    zoo_spec tmp = *s;
    ebm_status st = apply_root(&c, root, &tmp);
    json_decref(root);
    if (!st)
        *s = tmp;
    return st;
}

ebm_status zoo_config_file(const char *path, zoo_spec *s, ebm_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ebm_fail(err, EBM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    ebm_status st = EBM_OK;
    if (!text)
        st = ebm_fail(err, EBM_ERR_NOMEM, "%s: out of memory", path);
    else if (read_error)
        st = ebm_fail(err, EBM_ERR_IO, "%s: read error (is it a directory?)", path);
    else if (n > CONFIG_MAX_BYTES)
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: larger than %d bytes; not a model configuration", path,
                      CONFIG_MAX_BYTES);
    else if (memchr(text, 0, n))
        st = ebm_fail(err, EBM_ERR_FORMAT, "%s: contains NUL bytes; expected a JSON text file", path);
    if (!st) {
        text[n] = 0;
        st = zoo_config_text(text, path, s, err);
    }
    free(text);
    return st;
}

/* ---- writing a configuration back ----------------------------------------------------------------- */

static int put(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

static json_t *dims_json(const int64_t *d, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(d[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The seed's form of s (all fields the builder reads). */
static json_t *spec_json(const zoo_spec *s)
{
    const zoo_defaults *d = &s->defaults;
    json_t *root = json_object(), *p = json_object();
    int bad = !root || !p;
    if (!bad && s->name[0])
        bad |= put(root, "name", json_string(s->name));
    bad |= put(root, "model_class", json_string(s->kind == ZOO_DEEP ? "DeepEBM" : "EBM"));
    bad |= put(root, "input_dim", s->input_dim > 0 ? dims_json(&s->input_dim, 1) : dims_json(s->input_hwc, 3));
    bad |= put(root, "hidden_dims", dims_json(s->hidden, s->n_hidden));
    bad |= put(root, "output_dim", json_integer(1));
    bad |= put(root, "activation", json_string(ir_nn_act_name(s->act)));
    bad |= put(p, "energy_type", json_string(zoo_kind_name(s->kind)));
    bad |= put(p, "use_residual", json_boolean(s->use_residual));
    bad |= put(p, "use_bias", json_boolean(s->use_bias));
    bad |= put(p, "kernel_size", json_integer(s->kernel));
    if (s->norm_groups > 0)
        bad |= put(p, "norm_groups", json_integer(s->norm_groups));
    bad |= put(p, "quadratic", json_boolean(s->quadratic));
    bad |= put(p, "mcmc_steps", json_integer(d->mcmc_steps));
    bad |= put(p, "step_size", json_real(d->step_size));
    bad |= put(p, "noise_scale", d->noise_scale < 0 ? json_string("auto") : json_real(d->noise_scale));
    bad |= put(p, "grad_clip", json_real(d->grad_clip));
    bad |= put(p, "clamp", d->clamp ? json_pack("[f, f]", d->clamp_lo, d->clamp_hi) : json_string("none"));
    bad |= put(p, "temperature", json_real(d->temperature));
    bad |= put(p, "buffer_capacity", json_integer(d->buffer_capacity));
    bad |= put(p, "reinit_prob", json_real(d->reinit_prob));
    bad |= put(p, "alpha", json_real(d->alpha));
    if (!bad) {
        bad |= json_object_set(root, "parameters", p);
    }
    json_decref(p);
    if (bad) {
        json_decref(root);
        return NULL;
    }
    return root;
}

ebm_status zoo_config_emit(const zoo_spec *s, int compact, char **out, ebm_error *err)
{
    *out = NULL;
    json_t *root = spec_json(s);
    /* 15 digits: the configuration's decimal numbers (0.01) print as written */
    size_t flags = JSON_REAL_PRECISION(15) | JSON_PRESERVE_ORDER | (compact ? JSON_COMPACT : JSON_INDENT(2));
    char *text = root ? json_dumps(root, flags) : NULL;
    json_decref(root);
    if (!text)
        return ebm_fail(err, EBM_ERR_NOMEM, "model configuration: out of memory writing JSON");
    /* json_dumps' memory comes from jansson's allocator (malloc by default); hand back a plain copy */
    *out = strdup(text);
    free(text);
    return *out ? EBM_OK : ebm_fail(err, EBM_ERR_NOMEM, "model configuration: out of memory writing JSON");
}

/* ---- a configuration from a model's metadata ------------------------------------------------------- */

/* One ebm.* default of the model over the configuration's: the metadata's
 * text is parsed as a JSON value and checked by the field's own rule, so a
 * bad value names the key. */
static ebm_status meta_default(cfg *c, const char *key, const char *text, field_fn fn, zoo_spec *s)
{
    json_t *v = NULL;
    double lo, hi;
    char extra;
    if (strcmp(text, "auto") == 0 || strcmp(text, "none") == 0)
        v = json_string(text);
    else if (sscanf(text, "%lf,%lf%c", &lo, &hi, &extra) == 2)
        v = json_pack("[f, f]", lo, hi);
    else
        v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v)
        return ebm_fail(c->err, EBM_ERR_INVALID, "%s: metadata %s = '%.64s' is not a value", c->label, key, text);
    char what[96];
    snprintf(what, sizeof what, "metadata %s", key);
    ebm_status st = fn(c, what, v, s);
    json_decref(v);
    return st;
}

ebm_status zoo_config_from_meta(zoo_meta_fn get, void *user, const char *label, zoo_spec *s, ebm_error *err)
{
    static const struct {
        const char *key;
        field_fn fn;
    } defaults[] = {
        {"ebm.sampler.steps", p_steps},         {"ebm.sampler.step_size", p_step_size},
        {"ebm.sampler.noise_scale", p_noise},   {"ebm.sampler.grad_clip", p_grad_clip},
        {"ebm.sampler.clamp", p_clamp},         {"ebm.sampler.temperature", p_temperature},
        {"ebm.buffer.capacity", p_buffer},      {"ebm.buffer.reinit_prob", p_reinit},
        {"ebm.train.alpha", p_alpha},
    };
    const char *text = get(user, "ebm.config");
    if (!text)
        return ebm_fail(err, EBM_ERR_UNSUPPORTED, "%s: no ebm.config metadata, so its configuration cannot be "
                        "rebuilt (only models written by ebm init record one; an export from PyTorch or another "
                        "tool does not)", label);
    char where[512];
    snprintf(where, sizeof where, "%s: metadata ebm.config", label);
    zoo_spec tmp;
    zoo_spec_default(&tmp);
    ebm_status st = zoo_config_text(text, where, &tmp, err);
    cfg c = {.label = label, .err = err};
    for (size_t i = 0; !st && i < COUNT(defaults); i++) {
        const char *v = get(user, defaults[i].key);
        if (v)
            st = meta_default(&c, defaults[i].key, v, defaults[i].fn, &tmp);
    }
    if (!st)
        *s = tmp;
    return st;
}
