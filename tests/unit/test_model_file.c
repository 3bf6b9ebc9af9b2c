/* test_model_file.c — what libebm checks in a model file before dlopen
 * (runtime/model_file.c on base/elf_file.c and base/digest.c), and the file
 * checks of ebm_model_open (owner, permissions, constructors).
 *
 * The mutations start from the sealed fake model quadratic.so
 * (tests/data/runtime): each changes what the dynamic loader would read or
 * run, in memory, and the check must name it; none may reach dlopen.
 * Digest values are XXH64's published reference values. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cc.h"
#include "digest.h"
#include "ebm.h"
#include "elf_file.h"
#include "model_file.h"
#include "runtime_fake.h"
#include "testutil.h"

/* ---- the digest --------------------------------------------------------------------------- */

START_TEST(digest_reference_values)
{
    ck_assert_uint_eq(base_digest64("", 0), UINT64_C(0xef46db3751d8e999));
    ck_assert_uint_eq(base_digest64("a", 1), UINT64_C(0xd24ec4f1a98c6e5b));
    unsigned char b[100];
    for (int i = 0; i < 100; i++)
        b[i] = (unsigned char)i;
    ck_assert_uint_eq(base_digest64(b, 100), UINT64_C(0x6ac1e58032166597));
}
END_TEST

/* Any split of the same bytes gives the same digest; every single-bit change
 * gives another one. */
START_TEST(digest_streaming_and_sensitivity)
{
    unsigned char b[300];
    for (int i = 0; i < 300; i++)
        b[i] = (unsigned char)(i * 37 + 11);
    const uint64_t whole = base_digest64(b, sizeof b);
    for (size_t cut = 0; cut <= sizeof b; cut++) {
        base_digest d;
        base_digest_init(&d, 0);
        base_digest_update(&d, b, cut / 2);
        base_digest_update(&d, b + cut / 2, cut - cut / 2);
        base_digest_update(&d, b + cut, sizeof b - cut);
        ck_assert_uint_eq(base_digest_final(&d), whole);
    }
    unsigned char z[77] = {0};
    base_digest d;
    base_digest_init(&d, 0);
    base_digest_update(&d, b, 5);
    base_digest_zeros(&d, sizeof z);
    uint64_t with_zeros = base_digest_final(&d);
    unsigned char bz[5 + sizeof z];
    memcpy(bz, b, 5);
    memcpy(bz + 5, z, sizeof z);
    ck_assert_uint_eq(with_zeros, base_digest64(bz, sizeof bz));
    for (size_t i = 0; i < sizeof b; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            ck_assert_uint_ne(base_digest64(b, sizeof b), whole);
            b[i] ^= (unsigned char)(1u << bit);
        }
}
END_TEST

/* ---- mutations of a sealed model ----------------------------------------------------------- */

static unsigned char *good;
static size_t good_size;
static base_elf good_elf;

static void load_good(void)
{
    FILE *f = fopen(fake_path("quadratic"), "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    good_size = (size_t)ftell(f);
    rewind(f);
    good = malloc(good_size);
    ck_assert_uint_eq(fread(good, 1, good_size, f), good_size);
    fclose(f);
    char why[256];
    ck_assert_msg(base_elf_parse(&good_elf, good, good_size, BASE_ELF_MACHINE_X86_64, why, sizeof why) == 0, "%s",
                  why);
}

static void free_good(void)
{
    free(good);
    good = NULL;
}

/* A fresh copy of the good bytes to mutate. */
static unsigned char *copy_good(void)
{
    unsigned char *c = malloc(good_size);
    ck_assert_ptr_nonnull(c);
    memcpy(c, good, good_size);
    return c;
}

static void put(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* bytes[0..size) must be refused with a message holding `needle` (and the name). */
static void expect_refused(const unsigned char *bytes, size_t size, const char *needle)
{
    ebm_model_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    ebm_error err = {0};
    ebm_status st = ebm__model_file_check("mutant.so", bytes, size, &f, &err);
    ck_assert_msg(st != EBM_OK, "accepted; expected a refusal mentioning '%s'", needle);
    ck_assert_msg(strstr(err.msg, "mutant.so") && strstr(err.msg, needle), "'%s' does not mention '%s'", err.msg,
                  needle);
}

/* The file offset of the dynamic entry with this tag (the first), or 0. */
static uint64_t dyn_entry(int64_t want)
{
    for (uint64_t i = 0; i < good_elf.n_dyn; i++) {
        int64_t tag;
        uint64_t val;
        base_elf_dynamic(&good_elf, i, &tag, &val);
        if (tag == want)
            return good_elf.dyn_off + i * 16;
    }
    return 0;
}

static uint64_t file_offset(uint64_t vaddr)
{
    uint64_t off = 0;
    ck_assert_int_eq(base_elf_file_offset(&good_elf, vaddr, 1, &off), 0);
    return off;
}

/* The program header of the first segment with these type and flags. */
static uint64_t phdr(uint32_t type, uint32_t flags)
{
    for (unsigned k = 0; k < good_elf.phnum; k++) {
        const unsigned char *ph = good + good_elf.phoff + (uint64_t)k * 56;
        if (get(ph, 4) == type && (flags == 0 || get(ph + 4, 4) == flags))
            return good_elf.phoff + (uint64_t)k * 56;
    }
    ck_abort_msg("no program header of type 0x%x", (unsigned)type);
    return 0;
}

/* The vaddr of the writable PT_LOAD. */
static uint64_t phdr_vaddr_rw(void)
{
    return get(good + phdr(1, 6) + 16, 8);
}

/* The descriptor's vaddr and the relocation writing `field` of it. */
static uint64_t desc_vaddr(void)
{
    int64_t i = base_elf_find_symbol(&good_elf, EBM_ABI_SYMBOL_NAME);
    ck_assert_int_ge(i, 0);
    base_elf_sym s;
    base_elf_symbol(&good_elf, (uint64_t)i, &s);
    return s.value;
}

static uint64_t reloc_of(size_t field)
{
    const uint64_t want = desc_vaddr() + field;
    for (uint64_t i = 0; i < good_elf.n_rela + good_elf.n_jmprel; i++) {
        base_elf_rela r;
        base_elf_relocation(&good_elf, i, &r);
        if (r.offset == want)
            return i < good_elf.n_rela ? good_elf.rela_off + i * 24 : good_elf.jmprel_off + (i - good_elf.n_rela) * 24;
    }
    ck_abort_msg("no relocation writes descriptor field %zu", field);
    return 0;
}

START_TEST(good_model_passes)
{
    load_good();
    ebm_model_file f;
    memset(&f, 0, sizeof f);
    f.fd = -1;
    ebm_error err = {0};
    ck_assert_msg(ebm__model_file_check("good.so", good, good_size, &f, &err) == EBM_OK, "%s", err.msg);
    ck_assert_int_eq(f.blob_bytes, 20 * 4);
    ck_assert_uint_ne(f.code_hash, 0);
    free_good();
}
END_TEST

START_TEST(header_mutations)
{
    load_good();
    unsigned char *c = copy_good();
    put(c + 18, 183, 2);   /* e_machine: aarch64 */
    expect_refused(c, good_size, "built for aarch64 (e_machine 183), not x86-64");
    memcpy(c, good, good_size);
    c[4] = 1;   /* ELFCLASS32 */
    expect_refused(c, good_size, "a 32-bit ELF object");
    memcpy(c, good, good_size);
    c[5] = 2;   /* big-endian */
    expect_refused(c, good_size, "a big-endian ELF object");
    memcpy(c, good, good_size);
    put(c + 16, 2, 2);   /* ET_EXEC */
    expect_refused(c, good_size, "an executable");
    memcpy(c, good, good_size);
    put(c + 32, UINT64_C(1) << 40, 8);   /* e_phoff */
    expect_refused(c, good_size, "program headers");
    memcpy(c, good, good_size);
    put(c + 56, 0, 2);   /* e_phnum */
    expect_refused(c, good_size, "0 program headers");
    expect_refused(c, 0, "an empty file");
    expect_refused((const unsigned char *)"hello, world", 12, "not a shared object");
    expect_refused(good, 63, "too few for an ELF header");
    /* cut one byte before the end of the last loadable segment (not at half the file: a build with -g
     * keeps debug sections after the segments, so half of it may still hold every segment) */
    uint64_t load_end = 0;
    const uint64_t phoff = get(good + 32, 8), phent = get(good + 54, 2), phnum = get(good + 56, 2);
    for (uint64_t k = 0; k < phnum; k++) {
        const unsigned char *ph = good + phoff + k * phent;
        if (get(ph, 4) == 1 && get(ph + 8, 8) + get(ph + 32, 8) > load_end)   /* PT_LOAD: offset + filesz */
            load_end = get(ph + 8, 8) + get(ph + 32, 8);
    }
    ck_assert_msg(load_end > 64 && load_end <= good_size, "the good file's last segment ends at %llu",
                  (unsigned long long)load_end);
    expect_refused(good, (size_t)load_end - 1, "lies past the end");
    free(c);
    free_good();
}
END_TEST

START_TEST(segment_mutations)
{
    load_good();
    unsigned char *c = copy_good();
    uint64_t stack = phdr(0x6474e551u, 0);
    put(c + stack + 4, 7, 4);   /* PF_R|PF_W|PF_X */
    expect_refused(c, good_size, "executable stack");
    memcpy(c, good, good_size);
    put(c + stack, 0, 4);   /* PT_NULL: no PT_GNU_STACK left */
    expect_refused(c, good_size, "no PT_GNU_STACK");
    memcpy(c, good, good_size);
    uint64_t rw = phdr(1, 6);   /* the RW PT_LOAD */
    put(c + rw + 4, 7, 4);
    expect_refused(c, good_size, "both writable and executable");
    memcpy(c, good, good_size);
    put(c + rw, 7, 4);   /* PT_TLS */
    expect_refused(c, good_size, "thread-local storage");
    memcpy(c, good, good_size);
    put(c + rw + 32, UINT64_C(1) << 40, 8);   /* p_filesz past the file */
    expect_refused(c, good_size, "truncated or corrupt");
    memcpy(c, good, good_size);
    put(c + rw + 48, 3, 8);   /* p_align not a power of two */
    expect_refused(c, good_size, "alignment 3");
    memcpy(c, good, good_size);
    put(c + phdr(2, 0), 3, 4);   /* PT_DYNAMIC -> PT_INTERP */
    expect_refused(c, good_size, "program interpreter");
    /* found by fuzz_model: the code segment turned into PT_PHDR made glibc read
     * the program headers from an unmapped page (SIGSEGV inside dlopen) */
    memcpy(c, good, good_size);
    put(c + phdr(1, 5), 6, 4);
    expect_refused(c, good_size, "PT_PHDR (0x");
    /* found by fuzz_model in CI: the first PT_LOAD made unreadable (flags 0) is mapped PROT_NONE and glibc
     * reads the program headers from it (SIGSEGV inside dlopen) */
    memcpy(c, good, good_size);
    put(c + phdr(1, 4) + 4, 0, 4);
    expect_refused(c, good_size, "is not readable (flags 0x0)");
    memcpy(c, good, good_size);
    put(c + phdr(1, 5) + 4, 1, 4);   /* the code segment: PF_X alone */
    expect_refused(c, good_size, "is not readable (flags 0x1)");
    memcpy(c, good, good_size);
    put(c + phdr(2, 0) + 40, get(good + phdr(2, 0) + 40, 8) + 64, 8);   /* PT_DYNAMIC's p_memsz */
    expect_refused(c, good_size, "the dynamic segment has");
    free(c);
    free_good();
}
END_TEST

START_TEST(dynamic_mutations)
{
    load_good();
    unsigned char *c = copy_good();
    static const struct {
        int64_t tag;
        const char *why;
    } refused[] = {
        {12, "runs code when loaded (DT_INIT)"},
        {25, "constructors"},
        {32, "DT_PREINIT_ARRAY"},
        {13, "when unloaded"},
        {15, "library search path (DT_RPATH)"},
        {29, "library search path (DT_RUNPATH)"},
        {22, "text relocations"},
        {4, "SysV hash table"},
        {0x6ffffefc, "audit libraries"},
        {0x6ffffffc, "defines symbol versions"},
        {36, "packed relative relocations"},
        {0x12345, "does not know (0x12345)"},
    };
    uint64_t needed = dyn_entry(1);
    ck_assert_uint_ne(needed, 0);
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        memcpy(c, good, good_size);
        put(c + needed, (uint64_t)refused[k].tag, 8);
        expect_refused(c, good_size, refused[k].why);
    }
    /* found by fuzz_model in CI: version needs without DT_VERSYM made glibc's version pass read
     * through a NULL pointer (SIGSEGV in _dl_check_map_versions); DT_VERSYM turned into DT_SYMBOLIC
     * (16, accepted and absent from a model) leaves the needs without their table */
    uint64_t versym = dyn_entry(0x6ffffff0);
    ck_assert_uint_ne(versym, 0);
    memcpy(c, good, good_size);
    put(c + versym, 16, 8);
    expect_refused(c, good_size, "version needs without a symbol version table (DT_VERSYM)");
    /* a library a model does not link, by name or by path */
    memcpy(c, good, good_size);
    char *lib = (char *)c + good_elf.strtab_off + get(good + needed + 8, 8);
    ck_assert_str_eq(lib, "libm.so.6");
    memcpy(lib, "libx.so.6", 9);
    expect_refused(c, good_size, "it needs the library 'libx.so.6'");
    memcpy(lib, "/tmp/m.so", 9);
    expect_refused(c, good_size, "it needs the library '/tmp/m.so'");
    /* a tag twice */
    memcpy(c, good, good_size);
    for (uint64_t i = 0; i < good_elf.n_dyn; i++)
        if ((int64_t)get(c + good_elf.dyn_off + i * 16, 8) == 0x6ffffffb) /* DT_FLAGS_1 */
            put(c + good_elf.dyn_off + i * 16, 30, 8);                    /* a second DT_FLAGS */
    expect_refused(c, good_size, "appears twice");
    memcpy(c, good, good_size);
    put(c + dyn_entry(5) + 8, UINT64_C(1) << 44, 8);   /* DT_STRTAB outside */
    expect_refused(c, good_size, "the string table");
    memcpy(c, good, good_size);
    c[good_elf.strtab_off + good_elf.strtab_size - 1] = 'x';
    expect_refused(c, good_size, "does not end with a NUL");
    memcpy(c, good, good_size);
    put(c + dyn_entry(5) + 8, phdr_vaddr_rw(), 8);   /* DT_STRTAB in the writable segment */
    put(c + dyn_entry(10) + 8, 16, 8);
    expect_refused(c, good_size, "the string table lies in a writable segment");
    free(c);
    free_good();
}
END_TEST

START_TEST(table_mutations)
{
    load_good();
    unsigned char *c = copy_good();
    /* the GNU hash table */
    uint64_t gh = file_offset(get(good + dyn_entry(0x6ffffef5) + 8, 8));
    put(c + gh, 0, 4);   /* no buckets: the loader would divide by zero */
    expect_refused(c, good_size, "GNU hash table header");
    memcpy(c, good, good_size);
    put(c + gh + 8, 3, 4);   /* bloom words not a power of two */
    expect_refused(c, good_size, "GNU hash table header");
    /* symbols */
    int64_t d = base_elf_find_symbol(&good_elf, EBM_ABI_SYMBOL_NAME);
    memcpy(c, good, good_size);
    c[good_elf.symtab_off + (uint64_t)d * 24 + 4] = (1 << 4) | 10;   /* GLOBAL IFUNC */
    expect_refused(c, good_size, "is an IFUNC");
    memcpy(c, good, good_size);
    c[good_elf.symtab_off + (uint64_t)d * 24 + 4] = (1 << 4) | 6;   /* GLOBAL TLS */
    expect_refused(c, good_size, "thread-local");
    memcpy(c, good, good_size);
    put(c + good_elf.symtab_off + (uint64_t)d * 24 + 8, UINT64_C(1) << 40, 8);
    expect_refused(c, good_size, "outside the loaded segments");
    memcpy(c, good, good_size);
    put(c + good_elf.symtab_off + (uint64_t)d * 24, UINT64_C(0xffffff), 4);
    expect_refused(c, good_size, "outside the string table");
    /* relocations */
    uint64_t r = reloc_of(offsetof(ebm_abi_model, energy_head));
    memcpy(c, good, good_size);
    put(c + r + 8, 37, 8);   /* R_X86_64_IRELATIVE */
    expect_refused(c, good_size, "IFUNC resolver would run");
    memcpy(c, good, good_size);
    put(c + r + 8, 2, 8);   /* R_X86_64_PC32 */
    expect_refused(c, good_size, "text relocation");
    memcpy(c, good, good_size);
    put(c + r, 0x10, 8);   /* writes into the first segment (read-only headers) */
    expect_refused(c, good_size, "outside the writable segments");
    memcpy(c, good, good_size);
    put(c + r + 8, (UINT64_C(1) << 32) | 6, 8);   /* GLOB_DAT where the loader takes all for relative */
    expect_refused(c, good_size, "is counted by DT_RELACOUNT but is not relative");
    memcpy(c, good, good_size);
    put(c + r + 8, (UINT64_C(999999) << 32) | 8, 8);   /* a relative relocation naming a symbol */
    expect_refused(c, good_size, "names symbol 999999");
    memcpy(c, good, good_size);
    put(c + r, get(good + phdr(2, 0) + 16, 8) + 8, 8);   /* rewrites a dynamic entry after the loader read it */
    expect_refused(c, good_size, "writes into the dynamic section");
    memcpy(c, good, good_size);
    put(c + r, desc_vaddr() + 8, 8);   /* writes the digests the file check reads */
    expect_refused(c, good_size, "writes into its header");
    memcpy(c, good, good_size);
    put(c + r, desc_vaddr() + offsetof(ebm_abi_model, weights), 8);   /* a second writer of the weights pointer */
    expect_refused(c, good_size, "the weights pointer is not set by one relative relocation");
    /* a version need for a library that is not needed: glibc asserts (abort) */
    memcpy(c, good, good_size);
    uint64_t vn = file_offset(get(good + dyn_entry(0x6ffffffe) + 8, 8));
    put(c + vn + 4, get(good + vn + 4, 4) + 1, 4);   /* vn_file "libc.so.6" -> "ibc.so.6": a string, not a library */
    expect_refused(c, good_size, "not a needed library");
    /* version indices past the version tables */
    memcpy(c, good, good_size);
    uint64_t vs = file_offset(get(good + dyn_entry(0x6ffffff0) + 8, 8));
    put(c + vs + 2, 0x7000, 2);
    expect_refused(c, good_size, "version index");
    free(c);
    free_good();
}
END_TEST

START_TEST(content_mutations)
{
    load_good();
    unsigned char *c = copy_good();
    uint64_t text = phdr(1, 5);   /* R+X PT_LOAD */
    uint64_t at = get(good + text + 8, 8) + get(good + text + 32, 8) / 2;
    c[at] ^= 1;
    expect_refused(c, good_size, "integrity check failed: the code does not match its digest");
    memcpy(c, good, good_size);
    uint64_t blob = file_offset((uint64_t)get(good + reloc_of(offsetof(ebm_abi_model, weights)) + 16, 8));
    c[blob + 5] ^= 0x40;
    expect_refused(c, good_size, "integrity check failed: the weights do not match their digest");
    /* a changed descriptor field (here n_params) is code too */
    memcpy(c, good, good_size);
    c[file_offset(desc_vaddr()) + offsetof(ebm_abi_model, n_params)] = 0xff;
    expect_refused(c, good_size, "the code does not match its digest");
    /* a changed relocation addend (issue 18: ebm info printed the string it led to, and crashed) */
    memcpy(c, good, good_size);
    c[reloc_of(offsetof(ebm_abi_model, energy_head)) + 17] ^= 0x10;
    expect_refused(c, good_size, "the code does not match its digest");
    /* the section headers are not loaded: changing them changes nothing the loader sees */
    memcpy(c, good, good_size);
    uint64_t shoff = get(good + 40, 8);
    if (shoff && shoff < good_size) {
        c[shoff + 70] ^= 0xff;
        ebm_model_file f;
        memset(&f, 0, sizeof f);
        f.fd = -1;
        ebm_error err = {0};
        ck_assert_msg(ebm__model_file_check("sh.so", c, good_size, &f, &err) == EBM_OK, "%s", err.msg);
    }
    /* the descriptor's target name must end inside its field */
    memcpy(c, good, good_size);
    memset(c + file_offset(desc_vaddr()) + offsetof(ebm_abi_model, isa), 'x', EBM_ABI_ISA_NAME_MAX);
    expect_refused(c, good_size, "code does not match");   /* the digest sees it first */
    free(c);
    free_good();
}
END_TEST

/* ---- re-sealed mutants: past the digests, the loaded descriptor's checks ------------------- */

static char tmpdir[256];

static const char *write_tmp(const char *name, const unsigned char *bytes, size_t size, mode_t mode)
{
    const char *path = tu_path("%s/%s", tmpdir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, bytes, size), (ssize_t)size);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

static void expect_open_fails(const char *path, const char *needle)
{
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open(path, &m, &err) != EBM_OK, "%s opened", path);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, needle), "'%s' does not mention '%s'", err.msg, needle);
}

/* Someone who re-seals a mutated file gets past the digests (they detect
 * damage, not intent), but the loaded descriptor is checked field by field:
 * a string pointer moved by its relocation (issue 18: `ebm info` segfaulted)
 * is refused before anything reads it. */
START_TEST(resealed_mutants)
{
    load_good();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ebmc_test_model_file_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    unsigned char *c = copy_good();
    uint64_t r = reloc_of(offsetof(ebm_abi_model, energy_head));
    put(c + r + 16, get(good + r + 16, 8) + (UINT64_C(1) << 30), 8);
    const char *path = write_tmp("moved_string.so", c, good_size, 0644);
    ebm_error err = {0};
    ck_assert_msg(ebmc_seal_model(path, &err) == EBM_OK, "%s", err.msg);
    expect_open_fails(path, "energy_head points outside the model's read-only data");
    /* a parameter name moved into the code */
    memcpy(c, good, good_size);
    uint64_t text = phdr(1, 5);
    int64_t name_reloc = -1;
    uint64_t params = 0;
    for (uint64_t i = 0; i < good_elf.n_rela; i++) {   /* the params pointer's target: the table */
        base_elf_rela rr;
        base_elf_relocation(&good_elf, i, &rr);
        if (rr.offset == desc_vaddr() + offsetof(ebm_abi_model, params))
            params = (uint64_t)rr.addend;
    }
    for (uint64_t i = 0; i < good_elf.n_rela; i++) {   /* the relocation of params[0].name */
        base_elf_rela rr;
        base_elf_relocation(&good_elf, i, &rr);
        if (rr.offset == params)
            name_reloc = (int64_t)i;
    }
    ck_assert_int_ge(name_reloc, 0);
    put(c + good_elf.rela_off + (uint64_t)name_reloc * 24 + 16, get(good + text + 16, 8), 8);
    path = write_tmp("name_in_code.so", c, good_size, 0644);
    ck_assert_msg(ebmc_seal_model(path, &err) == EBM_OK, "%s", err.msg);
    expect_open_fails(path, "parameter 0's name points outside the model's read-only data");
    /* the sealed good file opens */
    path = write_tmp("good.so", good, good_size, 0644);
    ebm_model *m = NULL;
    ck_assert_msg(ebm_model_open(path, &m, &err) == EBM_OK, "%s", err.msg);
    ebm_model_close(m);
    free(c);
    free_good();
}
END_TEST

/* ---- the file: owner, permissions, kind ---------------------------------------------------- */

START_TEST(owner_and_permissions)
{
    load_good();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ebmc_test_model_file_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    const char *path = write_tmp("open.so", good, good_size, 0666);
    expect_open_fails(path, "writable by anyone (mode 0666)");
    path = write_tmp("group.so", good, good_size, 0664);
    expect_open_fails(path, "writable by its group (mode 0664)");
    ebm_open_options trust = {.trust_file = 1};
    ebm_model *m = NULL;
    ebm_error err = {0};
    ck_assert_msg(ebm_model_open_with(path, &trust, &m, &err) == EBM_OK, "%s", err.msg);
    ebm_model_close(m);
    path = write_tmp("mine.so", good, good_size, 0755);
    ck_assert_msg(ebm_model_open(path, &m, &err) == EBM_OK, "%s", err.msg);
    ebm_model_close(m);
    if (geteuid() == 0) {
        /* planted: another user's file, open to all; as root, refused unless trusted */
        path = write_tmp("planted.so", good, good_size, 0777);
        ck_assert_int_eq(chown(path, 65534, 65534), 0);
        expect_open_fails(path, "owned by uid 65534, not by you (uid 0) or root");
        ck_assert_msg(ebm_model_open_with(path, &trust, &m, &err) == EBM_OK, "%s", err.msg);
        ebm_model_close(m);
    }
    const char *fifo = tu_path("%s/fifo.so", tmpdir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    expect_open_fails(fifo, "not a regular file");   /* and does not block */
    unlink(fifo);
    free_good();
}
END_TEST

/* A shared object with a constructor is refused before dlopen: the
 * constructor (it would create a file) never runs, even when the object
 * exports a well-formed, sealed-looking descriptor. */
START_TEST(constructor_never_runs)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ebmc_test_model_file_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    const char *marker = tu_path("%s/constructor-ran", tmpdir);
    setenv("EBM_FAKE_CONSTRUCTOR_MARKER", marker, 1);
    expect_open_fails(fake_path("constructor"), "it runs code when loaded (DT_INIT_ARRAY: constructors)");
    ck_assert_msg(access(marker, F_OK) != 0, "the constructor ran");
    unsetenv("EBM_FAKE_CONSTRUCTOR_MARKER");
}
END_TEST

/* The cache key's build part names everything that decides a model's bytes
 * besides its graph. */
START_TEST(cc_identity_covers_the_build)
{
    char native[2048], generic[2048], o2[2048];
    ebm_error err = {0};
    ck_assert_msg(ebmc_cc_identity(NULL, 3, "native", native, sizeof native, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebmc_cc_identity(NULL, 3, "generic", generic, sizeof generic, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(ebmc_cc_identity(NULL, 2, "native", o2, sizeof o2, &err) == EBM_OK, "%s", err.msg);
    ck_assert_msg(strstr(native, ebmc_codegen_revision) && strlen(ebmc_codegen_revision) == 16, "%s", native);
    ck_assert_msg(strstr(native, "-march=native") && strstr(native, "-O3") && strstr(native, "-nostartfiles") &&
                  strstr(native, "; cc /"), "%s", native);
    ck_assert_msg(strstr(generic, "-march=x86-64 "), "%s", generic);
    ck_assert_str_ne(native, generic);
    ck_assert_str_ne(native, o2);
    ck_assert_int_ne(ebmc_cc_identity("/nonexistent/cc", 3, "native", o2, sizeof o2, &err), EBM_OK);
    ck_assert_msg(strstr(err.msg, "/nonexistent/cc"), "%s", err.msg);
    ck_assert_int_ne(ebmc_cc_identity(NULL, 3, "x86-64; rm", o2, sizeof o2, &err), EBM_OK);
    ck_assert_int_ne(ebmc_cc_identity(NULL, 3, "native", o2, 40, &err), EBM_OK);   /* too small a buffer */
}
END_TEST

static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    tmpdir[0] = 0;
}

static Suite *model_file_suite(void)
{
    Suite *s = suite_create("model_file");
    TCase *t = tcase_create("digest");
    tcase_add_test(t, digest_reference_values);
    tcase_add_test(t, digest_streaming_and_sensitivity);
    suite_add_tcase(s, t);
    t = tcase_create("elf");
    tcase_add_test(t, good_model_passes);
    tcase_add_test(t, header_mutations);
    tcase_add_test(t, segment_mutations);
    tcase_add_test(t, dynamic_mutations);
    tcase_add_test(t, table_mutations);
    tcase_add_test(t, content_mutations);
    suite_add_tcase(s, t);
    t = tcase_create("open");
    tcase_add_checked_fixture(t, NULL, remove_tmpdir);
    tcase_add_test(t, resealed_mutants);
    tcase_add_test(t, owner_and_permissions);
    tcase_add_test(t, constructor_never_runs);
    tcase_add_test(t, cc_identity_covers_the_build);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(model_file_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
