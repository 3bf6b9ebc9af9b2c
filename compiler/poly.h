/* poly.h — sizes, strides and index spaces as polynomials in the batch size n.
 *
 * Shapes are static except the batch size N (IR_DIM_N), which stays symbolic:
 * a shape may hold it more than once ([N,N] in a parameter gradient), so a
 * size or a stride is a polynomial in n, and every index expression built
 * from them is exact for any n <= tile.  A pshape is a shape with polynomial
 * dimensions; a pview says where element (i_0, ...) of an index space sits in
 * a dense array (base + sum_a i_a * stride[a]): contiguous, numpy-broadcast,
 * transposed, sliced, or placed inside a bigger array.  Kernel selection and
 * the C kernels read them; everything here is static inline and internal to
 * compiler/ (short names on purpose).
 */
#ifndef EBMC_POLY_H
#define EBMC_POLY_H

#include <stdio.h>
#include <string.h>

#include "ir.h"

#define PDEG (IR_MAX_RANK + 1)

typedef struct poly {
    int64_t c[PDEG];   /* value = sum_k c[k] * n^k */
} poly;

static inline poly p_const(int64_t v)
{
    poly p;
    memset(&p, 0, sizeof p);
    p.c[0] = v;
    return p;
}

static inline poly p_dim(int64_t d)
{
    poly p = p_const(d == IR_DIM_N ? 0 : d);
    if (d == IR_DIM_N)
        p.c[1] = 1;
    return p;
}

static inline poly p_mul(poly a, poly b)
{
    poly r = p_const(0);
    for (int i = 0; i < PDEG; i++)
        for (int j = 0; i + j < PDEG; j++)
            r.c[i + j] += a.c[i] * b.c[j];
    return r;
}

static inline poly p_add(poly a, poly b)
{
    for (int i = 0; i < PDEG; i++)
        a.c[i] += b.c[i];
    return a;
}

static inline int p_eq(poly a, poly b)
{
    return memcmp(a.c, b.c, sizeof a.c) == 0;
}

static inline int p_is(poly a, int64_t v)
{
    return p_eq(a, p_const(v));
}

/* C text of p; parenthesised unless it is a single non-negative term. */
static inline const char *p_str(poly p, char *buf, size_t size)
{
    char tmp[256];
    size_t len = 0;
    int terms = 0, neg = 0;
    tmp[0] = 0;
    for (int k = 0; k < PDEG; k++) {
        int64_t c = p.c[k];
        if (!c)
            continue;
        const char *sep = terms ? (c < 0 ? " - " : " + ") : (c < 0 ? "-" : "");
        neg |= c < 0;
        int64_t m = c < 0 ? -c : c;
        len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%s", sep);
        if (k == 0 || m != 1)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%lld%s", (long long)m, k ? "*" : "");
        for (int e = 0; e < k; e++)
            len += (size_t)snprintf(tmp + len, sizeof tmp - len, "%sn", e ? "*" : "");
        terms++;
        if (len >= sizeof tmp)
            break;
    }
    if (!terms)
        snprintf(buf, size, "0");
    else if (terms == 1 && !neg)
        snprintf(buf, size, "%s", tmp);
    else
        snprintf(buf, size, "(%s)", tmp);
    return buf;
}

/* ---- shapes and views as polynomials ------------------------------------------- */

typedef struct pshape {
    int rank;
    poly d[IR_MAX_RANK];
} pshape;

static inline pshape ps_of(const ir_shape *s)
{
    pshape r;
    memset(&r, 0, sizeof r);
    r.rank = s->rank;
    for (int i = 0; i < s->rank; i++)
        r.d[i] = p_dim(s->d[i]);
    return r;
}

static inline poly ps_numel(const pshape *s)
{
    poly k = p_const(1);
    for (int i = 0; i < s->rank; i++)
        k = p_mul(k, s->d[i]);
    return k;
}

/* Element (i_0, ...) of an index space sits at base + sum_a i_a * stride[a]. */
typedef struct pview {
    poly base;
    poly stride[IR_MAX_RANK];
} pview;

static inline pview v_contiguous(const pshape *s)
{
    pview v;
    memset(&v, 0, sizeof v);
    poly k = p_const(1);
    for (int i = s->rank - 1; i >= 0; i--) {
        v.stride[i] = k;
        k = p_mul(k, s->d[i]);
    }
    return v;
}

/* The dense array src numpy-broadcast over the index space (right-aligned). */
static inline pview v_broadcast(const pshape *src, const pshape *space)
{
    pview c = v_contiguous(src), v;
    memset(&v, 0, sizeof v);
    int shift = space->rank - src->rank;
    for (int a = 0; a < space->rank; a++) {
        int sa = a - shift;
        v.stride[a] = (sa < 0 || p_is(src->d[sa], 1)) ? p_const(0) : c.stride[sa];
    }
    return v;
}

static inline pview v_transpose(const pshape *src, const int *perm, int rank)
{
    pview c = v_contiguous(src), v;
    memset(&v, 0, sizeof v);
    for (int a = 0; a < rank; a++)
        v.stride[a] = c.stride[perm[a]];
    return v;
}

/* The batch axis is never sliced (the shape rule enforces it). */
static inline pview v_slice(const ir_shape *src, const ir_slice_attr *s)
{
    pshape ps = ps_of(src);
    pview c = v_contiguous(&ps), v;
    memset(&v, 0, sizeof v);
    for (int a = 0; a < src->rank; a++) {
        int batch = src->d[a] == IR_DIM_N;
        v.base = p_add(v.base, p_mul(p_const(batch ? 0 : s->start[a]), c.stride[a]));
        v.stride[a] = p_mul(p_const(batch ? 1 : s->step[a]), c.stride[a]);
    }
    return v;
}

/* Where an operand lands inside a bigger result: at `begin` along each axis. */
static inline pview v_placement(const pshape *dst, const int64_t *begin)
{
    pview v = v_contiguous(dst);
    for (int a = 0; a < dst->rank; a++)
        v.base = p_add(v.base, p_mul(p_const(begin[a]), v.stride[a]));
    return v;
}


#endif /* EBMC_POLY_H */
