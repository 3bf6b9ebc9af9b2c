/* digest.c — the 64-bit content digest (see digest.h). */
#include "digest.h"

#include <string.h>

/* Odd 64-bit constants with well-mixed bits. */
#define K1 UINT64_C(0x9E3779B185EBCA87)
#define K2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define K3 UINT64_C(0x165667B19E3779F9)
#define K4 UINT64_C(0x85EBCA77C2B2AE63)
#define K5 UINT64_C(0x27D4EB2F165667C5)

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* Little-endian loads, whatever the host: the digest is stored in files. */
static uint64_t load64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t load32(const unsigned char *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t mix(uint64_t lane, uint64_t word)
{
    lane += word * K2;
    return rotl(lane, 31) * K1;
}

static void block(uint64_t lane[4], const unsigned char *p)
{
    lane[0] = mix(lane[0], load64(p));
    lane[1] = mix(lane[1], load64(p + 8));
    lane[2] = mix(lane[2], load64(p + 16));
    lane[3] = mix(lane[3], load64(p + 24));
}

void base_digest_init(base_digest *d, uint64_t seed)
{
    d->lane[0] = seed + K1 + K2;
    d->lane[1] = seed + K2;
    d->lane[2] = seed;
    d->lane[3] = seed - K1;
    d->total = 0;
    d->n_buf = 0;
}

void base_digest_update(base_digest *d, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n == 0)
        return;
    d->total += n;
    if (d->n_buf) {
        size_t take = sizeof d->buf - d->n_buf < n ? sizeof d->buf - d->n_buf : n;
        memcpy(d->buf + d->n_buf, p, take);
        d->n_buf += take;
        p += take;
        n -= take;
        if (d->n_buf < sizeof d->buf)
            return;
        block(d->lane, d->buf);
        d->n_buf = 0;
    }
    for (; n >= 32; p += 32, n -= 32)
        block(d->lane, p);
    memcpy(d->buf, p, n);
    d->n_buf = n;
}

void base_digest_zeros(base_digest *d, uint64_t n)
{
    static const unsigned char zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        base_digest_update(d, zeros, k);
        n -= k;
    }
}

uint64_t base_digest_final(const base_digest *d)
{
    uint64_t h;
    if (d->total >= 32) {
        h = rotl(d->lane[0], 1) + rotl(d->lane[1], 7) + rotl(d->lane[2], 12) + rotl(d->lane[3], 18);
        for (int i = 0; i < 4; i++)
            h = (h ^ mix(0, d->lane[i])) * K1 + K4;
    } else {
        h = d->lane[2] + K5;   /* lane 2 holds the seed */
    }
    h += d->total;
    const unsigned char *p = d->buf;
    size_t n = d->n_buf;
    for (; n >= 8; p += 8, n -= 8)
        h = rotl(h ^ mix(0, load64(p)), 27) * K1 + K4;
    if (n >= 4) {
        h = rotl(h ^ (load32(p) * K1), 23) * K2 + K3;
        p += 4;
        n -= 4;
    }
    for (; n > 0; p++, n--)
        h = rotl(h ^ (*p * K5), 11) * K1;
    /* avalanche: every input bit reaches every output bit */
    h ^= h >> 33;
    h *= K2;
    h ^= h >> 29;
    h *= K3;
    h ^= h >> 32;
    return h;
}

uint64_t base_digest64(const void *p, size_t n)
{
    base_digest d;
    base_digest_init(&d, 0);
    base_digest_update(&d, p, n);
    return base_digest_final(&d);
}
