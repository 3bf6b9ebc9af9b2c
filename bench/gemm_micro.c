/* gemm_micro.c — times the generated GEMM (ebmk_gemm_nn, the helper text of
 * compiler/codegen_c_gemm.c) on the shapes the benchmark models use, one
 * thread, and prints GFLOP/s per shape.
 *
 * It writes the helper text plus one wrapper per shape and a timing main to
 * a C file, compiles that with the flags a model.so gets (cc.c: -O2
 * -ffp-contract=off -fno-math-errno -fno-trapping-math -fopenmp-simd
 * -march=native) and runs it.  As in the models, a convolution's m (output
 * channels) and K are constants and N (the chunk's pixel columns) is a
 * run-time value; an MLP's K and N are constants and m (tile rows) is not.
 * Each result is also compared bit for bit with a scalar fmaf chain in k
 * order (the order every block must follow), so a kernel change that breaks
 * the order shows up here too.
 *
 * Build and run (from the repository, after the CMake build in build/):
 *   cc -O2 -std=c11 -Icompiler -Iir -Iruntime bench/gemm_micro.c build/lib/libebmc_compiler.a \
 *      build/lib/libebmc_ir.a build/lib/libebmc_proto.a -lopenblas -ljansson -lprotobuf-c -lm \
 *      -o build/gemm_micro && build/gemm_micro [-march=...] [filter]
 * A filter (substring of the shape's label, e.g. "wino") runs only the shapes
 * it matches; -march=... compiles for another target; -DNAME=VALUE overrides a
 * block constant of the helper text (EBMK_NN_MR, EBMK_NN_NV, EBMK_NN_KC,
 * EBMK_NN_PANEL_K, EBMK_NN_FEW) to compare block shapes.  The "cold" column
 * cycles through copies of the operands totalling 8 MiB (out of L2).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codegen_c.h"

typedef struct gshape {
    const char *label;
    int64_t m, k, n;
    int conv;   /* 1: m, K constant, N at run time (weights on the left); 0: K, N constant, m at run time */
} gshape;

static const gshape shapes[] = {
    /* mnist_b64 Winograd 7x7 layer, forward and input gradient (16 samples x 16 tiles) */
    {"wino mnist fwd", 64, 32, 256, 1},
    {"wino mnist bwd", 32, 64, 256, 1},
    /* cifar_b32 Winograd */
    {"wino cifar", 32, 32, 256, 1},
    {"wino cifar", 64, 64, 256, 1},
    {"wino cifar", 128, 128, 256, 1},
    {"wino cifar", 128, 256, 64, 1},
    {"wino cifar", 256, 128, 64, 1},
    {"wino cifar", 256, 256, 64, 1},
    {"wino cifar", 128, 128, 144, 1},
    /* cifar im2col (forward) */
    {"im2col cifar", 32, 27, 1024, 1},
    {"im2col cifar", 32, 3, 1024, 1},
    {"im2col cifar", 64, 288, 512, 1},
    {"im2col cifar", 64, 32, 512, 1},
    {"im2col cifar", 128, 576, 256, 1},
    {"im2col cifar", 128, 64, 256, 1},
    /* cifar input gradient (W^T on the left) */
    {"igrad cifar", 27, 32, 1024, 1},
    {"igrad cifar", 288, 64, 512, 1},
    {"igrad cifar", 576, 128, 256, 1},
    {"igrad cifar", 64, 128, 256, 1},
    {"igrad cifar", 32, 64, 1024, 1},
    {"igrad cifar", 3, 32, 1024, 1},
    {"im2col cifar", 32, 3, 1040, 1},
    {"im2col cifar", 32, 3, 960, 1},
    /* mnist im2col: 14x14 and 7x7 pixels per sample */
    {"im2col mnist", 16, 9, 784 * 8, 1},
    {"im2col mnist", 32, 144, 196 * 8, 1},
    {"igrad mnist", 144, 32, 196 * 8, 1},
    /* MLP: activations on the left, m = tile rows */
    {"mlp", 64, 784, 256, 0},
    {"mlp", 64, 256, 784, 0},
    {"mlp", 64, 256, 256, 0},
    {"mlp", 1, 256, 784, 0},
    {"mlp", 1, 256, 256, 0},
    {"mlp", 7, 256, 256, 0},
};
#define N_SHAPES ((int)(sizeof shapes / sizeof shapes[0]))

static const char timing_head[] =
    "#include <math.h>\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <time.h>\n"
    "typedef struct { const char *label; int64_t m, k, n; int conv; void (*f)(int64_t, const float *, "
    "const float *, float *); } gm_case;\n";

static const char timing_main[] =
    "static double gm_now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); "
    "return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec; }\n"
    "static uint64_t gm_state = 88172645463325252ull;\n"
    "static float gm_rand(void) { gm_state ^= gm_state << 13; gm_state ^= gm_state >> 7; gm_state ^= gm_state << 17;"
    " return (float)((double)(gm_state >> 40) / (double)(1ull << 24) * 2.0 - 1.0); }\n"
    "int main(int argc, char **argv)\n"
    "{\n"
    "    const char *filter = argc > 1 ? argv[1] : \"\";\n"
    "    double total_flop = 0, total_s = 0, total_cold = 0;\n"
    "    int bad = 0;\n"
    "    printf(\"%-16s %5s %5s %6s %9s %8s %8s\\n\", \"shape\", \"m\", \"K\", \"N\", \"us/call\", \"GFLOP/s\", \"cold\");\n"
    "    for (size_t s = 0; s < sizeof gm_cases / sizeof gm_cases[0]; s++) {\n"
    "        const gm_case *g = &gm_cases[s];\n"
    "        if (!strstr(g->label, filter))\n"
    "            continue;\n"
    "        /* copies enough for 8 MiB: the cold column cycles through them (out of L2) */\n"
    "        const size_t na = (size_t)(g->m * g->k + 16), nw = (size_t)(g->k * g->n + 16), nc = (size_t)(g->m * g->n + 16);\n"
    "        const size_t copies = (size_t)(8 << 20) / (4 * (na + nw + nc)) + 1;\n"
    "        float *pool = aligned_alloc(64, copies * (na + nw + nc) * 4);\n"
    "        for (size_t i = 0; i < copies * (na + nw + nc); i++) pool[i] = gm_rand();\n"
    "        float *a = pool, *w = pool + na, *c = pool + na + nw;\n"
    "        const int64_t arg = g->conv ? g->n : g->m;\n"
    "        g->f(arg, a, w, c);\n"
    "        for (int64_t i = 0; i < g->m; i++)   /* the k-order fma chain, bit for bit */\n"
    "            for (int64_t j = 0; j < g->n; j++) {\n"
    "                float acc = 0;\n"
    "                for (int64_t k = 0; k < g->k; k++)\n"
    "#if defined(__FMA__)\n"
    "                    acc = fmaf(a[i * g->k + k], w[k * g->n + j], acc);\n"
    "#else\n"
    "                    acc = a[i * g->k + k] * w[k * g->n + j] + acc;\n"
    "#endif\n"
    "                if (memcmp(&acc, &c[i * g->n + j], 4) != 0) {\n"
    "                    if (bad++ < 5) printf(\"MISMATCH %s m=%lld K=%lld N=%lld at [%lld,%lld]: %.9g vs %.9g\\n\",\n"
    "                        g->label, (long long)g->m, (long long)g->k, (long long)g->n, (long long)i, (long long)j, c[i * g->n + j], acc);\n"
    "                    i = g->m; break;\n"
    "                }\n"
    "            }\n"
    "        const double flop = 2.0 * (double)g->m * (double)g->k * (double)g->n;\n"
    "        int64_t reps = (int64_t)(2e7 / flop) + 1;\n"
    "        double best = 1e30;\n"
    "        for (int r = 0; r < 7; r++) {\n"
    "            double t0 = gm_now();\n"
    "            for (int64_t q = 0; q < reps; q++)\n"
    "                g->f(arg, a, w, c);\n"
    "            double t = (gm_now() - t0) / (double)reps;\n"
    "            if (t < best) best = t;\n"
    "        }\n"
    "        double cold = 1e30;\n"
    "        const int64_t creps = (reps + (int64_t)copies - 1) / (int64_t)copies * (int64_t)copies;\n"
    "        for (int r = 0; r < 7; r++) {\n"
    "            double t0 = gm_now();\n"
    "            for (int64_t q = 0; q < creps; q++) {\n"
    "                float *p = pool + (size_t)(q % (int64_t)copies) * (na + nw + nc);\n"
    "                g->f(arg, p, p + na, p + na + nw);\n"
    "            }\n"
    "            double t = (gm_now() - t0) / (double)creps;\n"
    "            if (t < cold) cold = t;\n"
    "        }\n"
    "        total_flop += flop; total_s += best; total_cold += cold;\n"
    "        printf(\"%-16s %5lld %5lld %6lld %9.2f %8.1f %8.1f\\n\", g->label, (long long)g->m, (long long)g->k,\n"
    "               (long long)g->n, best * 1e6, flop / best * 1e-9, flop / cold * 1e-9);\n"
    "        free(pool);\n"
    "    }\n"
    "    printf(\"all shapes, one call each: %.1f GFLOP/s, cold %.1f\\n\", total_flop / total_s * 1e-9,\n"
    "           total_flop / total_cold * 1e-9);\n"
    "    return bad != 0;\n"
    "}\n";

int main(int argc, char **argv)
{
    const char *march = "-march=native", *filter = "";
    char defs[512] = "";
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-march=", 7) == 0)
            march = argv[i];
        else if (strncmp(argv[i], "-D", 2) == 0 && strlen(defs) + strlen(argv[i]) + 2 < sizeof defs) {
            strcat(defs, " ");
            strcat(defs, argv[i]);
        }
        else
            filter = argv[i];
    }
    ebmc_buf b = {0};
    ebmc_buf_puts(&b, "#include <stdint.h>\n#include <string.h>\n\n");
    ebmc_emit_gemm_helpers(&b);
    for (int s = 0; s < N_SHAPES; s++) {
        const gshape *g = &shapes[s];
        ebmc_buf_printf(&b, "__attribute__((noinline)) static void gm_%d(int64_t x, const float *a, const float *w, "
                            "float *c)\n{\n", s);
        if (g->conv)
            ebmc_buf_printf(&b, "    ebmk_gemm_nn(%lld, %lld, x, a, w, c);\n}\n", (long long)g->m, (long long)g->k);
        else
            ebmc_buf_printf(&b, "    ebmk_gemm_nn(x, %lld, %lld, a, w, c);\n}\n", (long long)g->k, (long long)g->n);
    }
    ebmc_buf_puts(&b, timing_head);
    ebmc_buf_puts(&b, "static const gm_case gm_cases[] = {\n");
    for (int s = 0; s < N_SHAPES; s++) {
        const gshape *g = &shapes[s];
        ebmc_buf_printf(&b, "    {\"%s\", %lld, %lld, %lld, %d, gm_%d},\n", g->label, (long long)g->m,
                        (long long)g->k, (long long)g->n, g->conv, s);
    }
    ebmc_buf_puts(&b, "};\n");
    ebmc_buf_puts(&b, timing_main);
    if (b.oom) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    char dir[] = "/tmp/gemm_microXXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char c_path[64], exe_path[64], cmd[1024];
    snprintf(c_path, sizeof c_path, "%s/gemm.c", dir);
    snprintf(exe_path, sizeof exe_path, "%s/gemm", dir);
    FILE *f = fopen(c_path, "w");
    if (!f || fwrite(b.s, 1, b.len, f) != b.len || fclose(f) != 0) {
        perror(c_path);
        return 1;
    }
    free(b.s);
    snprintf(cmd, sizeof cmd, "cc -O2 -std=gnu11 -ffp-contract=off -fno-math-errno -fno-trapping-math "
                              "-fopenmp-simd %s%s -o %s %s -lm", march, defs, exe_path, c_path);
    int rc = system(cmd);
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "%s '%s'", exe_path, filter);
        rc = system(cmd);
    } else {
        fprintf(stderr, "compile failed: %s\n", cmd);
    }
    if (!getenv("GEMM_MICRO_KEEP")) {
        unlink(c_path);
        unlink(exe_path);
        rmdir(dir);
    } else {
        printf("kept %s\n", c_path);
    }
    return rc != 0;
}
