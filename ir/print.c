/* print.c — text and Graphviz views of a graph (`ebmc --emit=ir|dot`). */
#include <string.h>

#include "ir.h"
#include "text.h"

static void add_ints(char *buf, size_t size, size_t *at, const char *key, const int64_t *v, int n)
{
    base_appendf(buf, size, at, " %s=[", key);
    for (int i = 0; i < n; i++)
        base_appendf(buf, size, at, "%s%lld", i ? "," : "", (long long)v[i]);
    base_appendf(buf, size, at, "]");
}

/* The attributes the node's op reads (the ATTR column of ops.def), as
 * " key=value" pairs. */
static void attr_str(const ir_node *n, int rank_in, char *buf, size_t size)
{
    size_t at = 0;
    char sb[64];
    const ir_attr *a = &n->attr;
    buf[0] = 0;
    switch (ir_op_get(n->op)->attr) {
    case IR_ATTR_F:
        base_appendf(buf, size, &at, " p=%.9g", a->f);
        break;
    case IR_ATTR_AXES:
        base_appendf(buf, size, &at, " axes=[");
        for (int i = 0, first = 1; i < 32; i++)
            if (a->axes & (1u << i)) {
                base_appendf(buf, size, &at, "%s%d", first ? "" : ",", i);
                first = 0;
            }
        base_appendf(buf, size, &at, "]");
        break;
    case IR_ATTR_AXIS:
        base_appendf(buf, size, &at, " axis=%d", a->axis);
        break;
    case IR_ATTR_PERM: {
        int64_t p[IR_MAX_RANK];
        for (int i = 0; i < rank_in; i++)
            p[i] = a->perm[i];
        add_ints(buf, size, &at, "perm", p, rank_in);
        break;
    }
    case IR_ATTR_SHAPE:
        base_appendf(buf, size, &at, " to=%s", ir_shape_str(&a->shape, sb, sizeof sb));
        break;
    case IR_ATTR_CONV:
        add_ints(buf, size, &at, "stride", a->conv.stride, 2);
        add_ints(buf, size, &at, "pad", a->conv.pad, 4);
        add_ints(buf, size, &at, "dilation", a->conv.dilation, 2);
        if (a->conv.group != 1)
            base_appendf(buf, size, &at, " group=%lld", (long long)a->conv.group);
        break;
    case IR_ATTR_POOL:
        add_ints(buf, size, &at, "kernel", a->pool.kernel, 2);
        add_ints(buf, size, &at, "stride", a->pool.stride, 2);
        add_ints(buf, size, &at, "pad", a->pool.pad, 4);
        if (a->pool.dilation[0] != 1 || a->pool.dilation[1] != 1)
            add_ints(buf, size, &at, "dilation", a->pool.dilation, 2);
        if (a->pool.ceil_mode)
            base_appendf(buf, size, &at, " ceil");
        if (a->pool.count_include_pad)
            base_appendf(buf, size, &at, " count_include_pad");
        break;
    case IR_ATTR_SLICE:
        add_ints(buf, size, &at, "start", a->slice.start, rank_in);
        add_ints(buf, size, &at, "end", a->slice.end, rank_in);
        add_ints(buf, size, &at, "step", a->slice.step, rank_in);
        break;
    case IR_ATTR_PAD:
        add_ints(buf, size, &at, "begin", a->pad.begin, rank_in);
        add_ints(buf, size, &at, "end", a->pad.end, rank_in);
        if (a->pad.value != 0)
            base_appendf(buf, size, &at, " value=%.9g", a->pad.value);
        break;
    case IR_ATTR_NONE:
    case IR_ATTR_COUNT:
        break;
    }
}

static int operand_rank(const ir_graph *g, const ir_node *n)
{
    return n->n_in > 0 ? g->nodes[n->in[0]].shape.rank : 0;
}

void ir_print_text(FILE *f, const ir_graph *g)
{
    char sb[64], ab[512];
    fprintf(f, "# ebmc core IR%s%s: %d nodes, %d inputs, %d outputs, %lld parameters\n",
            g->source ? " of " : "", g->source ? g->source : "", g->n_nodes, g->n_inputs, g->n_outputs,
            (long long)ir_graph_param_count(g, 0));
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        const char *name = n->name ? n->name : "";
        ir_shape_str(&n->shape, sb, sizeof sb);
        if (n->op == IR_OP_INPUT) {
            fprintf(f, "%%%d = input \"%s\" : %s\n", i, name, sb);
            continue;
        }
        if (n->op == IR_OP_CONST) {
            fprintf(f, "%%%d = const%s%s%s%s : %s", i,
                    (n->flags & IR_NODE_TRAINABLE) ? " param" : (n->flags & IR_NODE_PARAM) ? " buffer" : "",
                    n->name ? " \"" : "", name, n->name ? "\"" : "", sb);
            if (ir_shape_numel(&n->shape, 0) == 1)
                fprintf(f, " = %.9g", n->data[0]);
            fputc('\n', f);
            continue;
        }
        fprintf(f, "%%%d = %s(", i, ir_op_get(n->op)->name);
        for (int k = 0; k < n->n_in; k++)
            fprintf(f, "%s%%%d", k ? ", " : "", n->in[k]);
        attr_str(n, operand_rank(g, n), ab, sizeof ab);
        fprintf(f, ")%s : %s", ab, sb);
        if (n->name)
            fprintf(f, "  # %s", n->name);
        fputc('\n', f);
    }
    for (int i = 0; i < g->n_outputs; i++)
        fprintf(f, "output \"%s\" = %%%d\n", g->output_names[i] ? g->output_names[i] : "", g->outputs[i]);
}

/* Graphviz wants labels with quotes and backslashes escaped. */
static void dot_escaped(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
}

void ir_print_dot(FILE *f, const ir_graph *g)
{
    static const char *const fill[IR_FUSE_COUNT] = {
        "#dff0d8", "#d9edf7", "#fcf8e3", "#f2dede", "#e8d9f7", "#eeeeee",
    };
    char sb[64], ab[512];
    fprintf(f, "digraph ebmc {\n  rankdir=TB;\n  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\", fontsize=10];\n");
    for (int i = 0; i < g->n_nodes; i++) {
        const ir_node *n = &g->nodes[i];
        ir_shape_str(&n->shape, sb, sizeof sb);
        fprintf(f, "  n%d [label=\"%%%d %s", i, i, ir_op_get(n->op)->name);
        if ((n->op == IR_OP_INPUT || n->op == IR_OP_CONST) && n->name) {
            fputs(" ", f);
            dot_escaped(f, n->name);
        } else {
            attr_str(n, operand_rank(g, n), ab, sizeof ab);
            dot_escaped(f, ab);
        }
        fprintf(f, "\\n%s\", fillcolor=\"%s\"%s];\n", sb,
                n->op == IR_OP_INPUT ? "#ffffff" : fill[ir_op_get(n->op)->fuse],
                n->op == IR_OP_CONST ? ", shape=note" : "");
        for (int k = 0; k < n->n_in; k++)
            fprintf(f, "  n%d -> n%d;\n", n->in[k], i);
    }
    for (int i = 0; i < g->n_outputs; i++) {
        fprintf(f, "  out%d [label=\"", i);
        dot_escaped(f, g->output_names[i] ? g->output_names[i] : "output");
        fprintf(f, "\", shape=ellipse, fillcolor=\"#ffffff\"];\n  n%d -> out%d;\n", g->outputs[i], i);
    }
    fprintf(f, "}\n");
}
