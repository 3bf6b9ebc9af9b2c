/* elf_file.c — the strict ELF64 shared-object reader (see elf_file.h).
 *
 * Every table is found the way the dynamic loader finds it, through a virtual
 * address and the PT_LOAD segments (never through section headers, which the
 * loader ignores), so what is checked here is what the loader will see.
 * Field offsets are those of the ELF64 structures (Elf64_Ehdr, _Phdr, _Dyn,
 * _Sym, _Rela, _Verneed, _Vernaux, _Nhdr), read little-endian byte by byte.
 */
#include "elf_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"

#define EHDR_SIZE 64
#define PHDR_SIZE 56
#define DYN_SIZE 16
#define SYM_SIZE 24
#define RELA_SIZE 24
#define MAX_PHNUM 64
#define MAX_SYMS (1u << 20)
#define MAX_RELOCS (1u << 22)
#define MAX_BUCKETS (1u << 20)
#define MAX_VERNEED 64
#define PAGE 4096u
#define USER_SPACE (UINT64_C(1) << 47)   /* x86-64 user addresses: a segment beyond cannot be mapped */

/* program header types */
#define PT_NULL 0u
#define PT_LOAD 1u
#define PT_DYNAMIC 2u
#define PT_INTERP 3u
#define PT_NOTE 4u
#define PT_PHDR 6u
#define PT_TLS 7u
#define PT_GNU_EH_FRAME 0x6474e550u
#define PT_GNU_STACK 0x6474e551u
#define PT_GNU_RELRO 0x6474e552u
#define PT_GNU_PROPERTY 0x6474e553u

/* dynamic tags */
enum {
    DT_NULL = 0, DT_NEEDED = 1, DT_PLTRELSZ = 2, DT_PLTGOT = 3, DT_HASH = 4, DT_STRTAB = 5, DT_SYMTAB = 6,
    DT_RELA = 7, DT_RELASZ = 8, DT_RELAENT = 9, DT_STRSZ = 10, DT_SYMENT = 11, DT_INIT = 12, DT_FINI = 13,
    DT_SONAME = 14, DT_RPATH = 15, DT_SYMBOLIC = 16, DT_REL = 17, DT_RELSZ = 18, DT_RELENT = 19,
    DT_PLTREL = 20, DT_DEBUG = 21, DT_TEXTREL = 22, DT_JMPREL = 23, DT_BIND_NOW = 24, DT_INIT_ARRAY = 25,
    DT_FINI_ARRAY = 26, DT_INIT_ARRAYSZ = 27, DT_FINI_ARRAYSZ = 28, DT_RUNPATH = 29, DT_FLAGS = 30,
    DT_PREINIT_ARRAY = 32, DT_PREINIT_ARRAYSZ = 33, DT_RELRSZ = 35, DT_RELR = 36, DT_RELRENT = 37,
};
#define DT_GNU_HASH 0x6ffffef5
#define DT_AUDIT 0x6ffffefc
#define DT_DEPAUDIT 0x6ffffefb
#define DT_VERSYM 0x6ffffff0
#define DT_RELACOUNT 0x6ffffff9
#define DT_FLAGS_1 0x6ffffffb
#define DT_VERDEF 0x6ffffffc
#define DT_VERDEFNUM 0x6ffffffd
#define DT_VERNEED 0x6ffffffe
#define DT_VERNEEDNUM 0x6fffffff
#define DF_TEXTREL 0x4u
#define DF_STATIC_TLS 0x10u

#define STT_TLS 6u
#define STT_GNU_IFUNC 10u
#define STB_GNU_UNIQUE 10u
#define SHN_ABS 0xfff1u

typedef unsigned char uchar;

static uint64_t rd(const uchar *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int fail(char *why, size_t size, const char *fmt, ...)
{
    if (why && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* The dynamic tags that may appear once, each with a slot in parse.val. */
static const int64_t single_tags[] = {
    DT_PLTRELSZ, DT_PLTGOT, DT_STRTAB, DT_SYMTAB, DT_RELA, DT_RELASZ, DT_RELAENT, DT_STRSZ, DT_SYMENT,
    DT_SYMBOLIC, DT_PLTREL, DT_JMPREL, DT_BIND_NOW, DT_FLAGS, DT_GNU_HASH, DT_VERSYM, DT_RELACOUNT, DT_FLAGS_1,
    DT_VERNEED, DT_VERNEEDNUM,
};
#define N_SINGLE (sizeof single_tags / sizeof single_tags[0])

typedef struct parse {
    base_elf *e;
    char *why;
    size_t why_size;
    uint64_t dyn_vaddr, dyn_size;
    int have_dynamic, have_stack;
    uint64_t val[N_SINGLE];   /* per single_tags entry: its value, */
    int seen[N_SINGLE];       /* and how often it appeared */
    uint64_t max_version;     /* the largest vna_other (version index) */
} parse;

/* The slot of a tag in parse.val, or -1 (DT_NEEDED, DT_SONAME: many or strings). */
static int tag_slot(int64_t tag)
{
    for (size_t i = 0; i < N_SINGLE; i++)
        if (single_tags[i] == tag)
            return (int)i;
    return -1;
}

static int has(const parse *p, int64_t tag)
{
    return p->seen[tag_slot(tag)] != 0;
}

/* The tag's value (0 if absent). */
static uint64_t value(const parse *p, int64_t tag)
{
    return p->val[tag_slot(tag)];
}

/* ---- address translation --------------------------------------------------------- */

const base_elf_load *base_elf_segment(const base_elf *e, uint64_t vaddr, uint64_t len)
{
    for (int i = 0; i < e->n_load; i++) {
        const base_elf_load *l = &e->load[i];
        if (vaddr >= l->vaddr && vaddr - l->vaddr <= l->memsz && len <= l->memsz - (vaddr - l->vaddr))
            return l;
    }
    return NULL;
}

int base_elf_file_offset(const base_elf *e, uint64_t vaddr, uint64_t len, uint64_t *offset)
{
    for (int i = 0; i < e->n_load; i++) {
        const base_elf_load *l = &e->load[i];
        if (vaddr >= l->vaddr && vaddr - l->vaddr <= l->filesz && len <= l->filesz - (vaddr - l->vaddr)) {
            *offset = l->offset + (vaddr - l->vaddr);
            return 0;
        }
    }
    return -1;
}

/* A table the loader reads: vaddr[0..len) must be file-backed. */
static int table_in(parse *p, const char *what, uint64_t vaddr, uint64_t len, uint64_t *offset, int writable_ok)
{
    if (base_elf_file_offset(p->e, vaddr, len, offset) != 0)
        return fail(p->why, p->why_size, "the %s (address 0x%llx, %llu bytes) lies outside the file-backed part of "
                    "the loaded segments", what, (unsigned long long)vaddr, (unsigned long long)len);
    const base_elf_load *l = base_elf_segment(p->e, vaddr, len);
    if (!writable_ok && (l->flags & BASE_ELF_PF_W))
        return fail(p->why, p->why_size, "the %s lies in a writable segment, where relocations could change it "
                    "after this check", what);
    return 0;
}

/* A table the loader reads, which must also stay as checked: read-only. */
static int table(parse *p, const char *what, uint64_t vaddr, uint64_t len, uint64_t *offset)
{
    return table_in(p, what, vaddr, len, offset, 0);
}

const char *base_elf_string(const base_elf *e, uint64_t off)
{
    /* the table's last byte is a NUL (checked), so any offset inside it starts a terminated string */
    return off < e->strtab_size ? (const char *)e->data + e->strtab_off + off : NULL;
}

/* ---- the ELF header and the program headers ----------------------------------------- */

static const char *machine_name(unsigned m)
{
    switch (m) {
    case 2: return "sparc";
    case 3: return "i386";
    case 8: return "mips";
    case 20: return "ppc";
    case 21: return "ppc64";
    case 22: return "s390";
    case 40: return "arm";
    case 43: return "sparcv9";
    case 50: return "ia64";
    case 62: return "x86-64";
    case 183: return "aarch64";
    case 243: return "riscv";
    case 258: return "loongarch";
    default: return "another architecture";
    }
}

static int check_header(parse *p, unsigned machine)
{
    base_elf *e = p->e;
    const uchar *h = e->data;
    if (e->size < EHDR_SIZE)
        return fail(p->why, p->why_size, "%llu bytes are too few for an ELF header (64)",
                    (unsigned long long)e->size);
    if (h[4] != 2)
        return fail(p->why, p->why_size, "%s ELF object (class %u); only 64-bit objects load",
                    h[4] == 1 ? "a 32-bit" : "an unknown", (unsigned)h[4]);
    if (h[5] != 1)
        return fail(p->why, p->why_size, "%s ELF object (data encoding %u); only little-endian objects load",
                    h[5] == 2 ? "a big-endian" : "an unknown", (unsigned)h[5]);
    unsigned type = (unsigned)rd(h + 16, 2), mach = (unsigned)rd(h + 18, 2);
    if (mach != machine)
        return fail(p->why, p->why_size, "built for %s (e_machine %u), not %s", machine_name(mach), mach,
                    machine_name(machine));
    if (h[6] != 1 || rd(h + 20, 4) != 1)
        return fail(p->why, p->why_size, "ELF version %u/%u, expected 1", (unsigned)h[6], (unsigned)rd(h + 20, 4));
    if (h[7] != 0 && h[7] != 3)
        return fail(p->why, p->why_size, "OS ABI %u, expected System V (0) or GNU/Linux (3)", (unsigned)h[7]);
    if (type != 3)
        return fail(p->why, p->why_size, "ELF type %u (%s), expected a shared object (3)", type,
                    type == 1 ? "a relocatable .o" : type == 2 ? "an executable" : type == 4 ? "a core dump" : "?");
    if (rd(h + 52, 2) != EHDR_SIZE || rd(h + 54, 2) != PHDR_SIZE)
        return fail(p->why, p->why_size, "header sizes %u/%u, expected 64/56", (unsigned)rd(h + 52, 2),
                    (unsigned)rd(h + 54, 2));
    e->phoff = rd(h + 32, 8);
    e->phnum = (unsigned)rd(h + 56, 2);
    if (e->phnum < 1 || e->phnum > MAX_PHNUM)
        return fail(p->why, p->why_size, "%u program headers, expected 1..%d", e->phnum, MAX_PHNUM);
    if (e->phoff > e->size || (uint64_t)e->phnum * PHDR_SIZE > e->size - e->phoff)
        return fail(p->why, p->why_size, "the program headers (%u at offset %llu) run past the end of the "
                    "%llu-byte file", e->phnum, (unsigned long long)e->phoff, (unsigned long long)e->size);
    return 0;
}

static int check_load(parse *p, unsigned k, const uchar *ph)
{
    base_elf *e = p->e;
    base_elf_load l = {.flags = (uint32_t)rd(ph + 4, 4), .offset = rd(ph + 8, 8), .vaddr = rd(ph + 16, 8),
                       .filesz = rd(ph + 32, 8), .memsz = rd(ph + 40, 8)};
    uint64_t align = rd(ph + 48, 8);
    if (e->n_load == BASE_ELF_MAX_LOAD)
        return fail(p->why, p->why_size, "more than %d loadable segments", BASE_ELF_MAX_LOAD);
    if (l.offset > e->size || l.filesz > e->size - l.offset)
        return fail(p->why, p->why_size, "segment %u (bytes %llu..%llu) lies past the end of the %llu-byte file: "
                    "truncated or corrupt", k, (unsigned long long)l.offset,
                    (unsigned long long)(l.offset + l.filesz), (unsigned long long)e->size);
    if (l.filesz > l.memsz || l.memsz == 0)
        return fail(p->why, p->why_size, "segment %u: %llu file bytes in %llu bytes of memory", k,
                    (unsigned long long)l.filesz, (unsigned long long)l.memsz);
    if (l.vaddr >= USER_SPACE || l.memsz > USER_SPACE - l.vaddr)
        return fail(p->why, p->why_size, "segment %u: address 0x%llx + %llu bytes cannot be mapped", k,
                    (unsigned long long)l.vaddr, (unsigned long long)l.memsz);
    if (align < PAGE || (align & (align - 1)) || l.vaddr % align != l.offset % align)
        return fail(p->why, p->why_size, "segment %u: alignment %llu does not fit its address 0x%llx and offset "
                    "%llu", k, (unsigned long long)align, (unsigned long long)l.vaddr, (unsigned long long)l.offset);
    /* the loader reads its own tables (program headers, dynamic section, notes) from the segments: an
     * unreadable one is mapped PROT_NONE and glibc faults inside dlopen */
    if (!(l.flags & BASE_ELF_PF_R))
        return fail(p->why, p->why_size, "segment %u is not readable (flags 0x%x)", k, (unsigned)l.flags);
    if ((l.flags & BASE_ELF_PF_W) && (l.flags & BASE_ELF_PF_X))
        return fail(p->why, p->why_size, "segment %u is both writable and executable", k);
    if ((l.flags & BASE_ELF_PF_W) == 0 && l.memsz != l.filesz)
        return fail(p->why, p->why_size, "segment %u is read-only but has %llu bytes not in the file", k,
                    (unsigned long long)(l.memsz - l.filesz));
    if (e->n_load > 0) {
        const base_elf_load *prev = &e->load[e->n_load - 1];
        if (l.vaddr < prev->vaddr + prev->memsz)
            return fail(p->why, p->why_size, "segment %u (address 0x%llx) overlaps or precedes the one before", k,
                        (unsigned long long)l.vaddr);
    }
    e->load[e->n_load++] = l;
    return 0;
}

/* Notes (PT_NOTE, PT_GNU_PROPERTY) are read by the loader (x86 CET
 * properties): each header and its padded name and description must fit. */
static int check_notes(parse *p, unsigned k, uint64_t vaddr, uint64_t size, uint64_t align)
{
    uint64_t off;
    if (size == 0)
        return 0;
    if (table(p, "note segment", vaddr, size, &off))
        return -1;
    const uint64_t a = align == 8 ? 8 : 4;
    const uchar *n = p->e->data + off;
    for (uint64_t pos = 0; pos < size;) {
        if (size - pos < 12)
            return fail(p->why, p->why_size, "segment %u: a note header runs past the segment", k);
        /* the name follows the 12-byte header; the description and the next note start aligned */
        uint64_t namesz = rd(n + pos, 4), descsz = rd(n + pos + 4, 4);
        uint64_t desc = (pos + 12 + namesz + a - 1) / a * a;
        if (desc > size || descsz > size - desc)
            return fail(p->why, p->why_size, "segment %u: a note (name %llu, description %llu bytes) runs past "
                        "the segment", k, (unsigned long long)namesz, (unsigned long long)descsz);
        pos = (desc + descsz + a - 1) / a * a;
    }
    return 0;
}

static int check_segments(parse *p)
{
    base_elf *e = p->e;
    for (unsigned k = 0; k < e->phnum; k++) {
        const uchar *ph = e->data + e->phoff + (uint64_t)k * PHDR_SIZE;
        if (rd(ph, 4) == PT_LOAD && check_load(p, k, ph))
            return -1;
    }
    if (e->n_load == 0)
        return fail(p->why, p->why_size, "no loadable segment");
    for (unsigned k = 0; k < e->phnum; k++) {
        const uchar *ph = e->data + e->phoff + (uint64_t)k * PHDR_SIZE;
        uint32_t type = (uint32_t)rd(ph, 4), flags = (uint32_t)rd(ph + 4, 4);
        uint64_t vaddr = rd(ph + 16, 8), filesz = rd(ph + 32, 8), memsz = rd(ph + 40, 8);
        uint64_t off;
        switch (type) {
        case PT_NULL:
        case PT_LOAD:
            break;
        case PT_PHDR:
            /* the loader reads the program headers from memory at this address */
            if (filesz != (uint64_t)e->phnum * PHDR_SIZE || memsz != filesz ||
                base_elf_file_offset(e, vaddr, filesz, &off) != 0 || off != e->phoff)
                return fail(p->why, p->why_size, "PT_PHDR (0x%llx, %llu bytes) is not where the program headers are "
                            "loaded", (unsigned long long)vaddr, (unsigned long long)memsz);
            break;
        case PT_GNU_EH_FRAME:
            /* read by unwinders once the code runs */
            if (memsz != filesz)
                return fail(p->why, p->why_size, "PT_GNU_EH_FRAME has %llu bytes in memory, %llu in the file",
                            (unsigned long long)memsz, (unsigned long long)filesz);
            if (table(p, "exception frame index (PT_GNU_EH_FRAME)", vaddr, filesz, &off))
                return -1;
            break;
        case PT_DYNAMIC:
            if (p->have_dynamic++)
                return fail(p->why, p->why_size, "two dynamic segments");
            if (memsz != filesz)
                return fail(p->why, p->why_size, "the dynamic segment has %llu bytes in memory, %llu in the file",
                            (unsigned long long)memsz, (unsigned long long)filesz);
            p->dyn_vaddr = vaddr;
            p->dyn_size = filesz;
            break;
        case PT_GNU_STACK:
            p->have_stack = 1;
            if (flags & BASE_ELF_PF_X)
                return fail(p->why, p->why_size, "it asks for an executable stack (PT_GNU_STACK)");
            break;
        case PT_GNU_RELRO: {
            /* the loader makes whole pages read-only: the range may run to the end of its segment's last page */
            const base_elf_load *l = base_elf_segment(e, vaddr, 0);
            if (!l || !(l->flags & BASE_ELF_PF_W) || memsz > USER_SPACE ||
                vaddr + memsz > (l->vaddr + l->memsz + PAGE - 1) / PAGE * PAGE)
                return fail(p->why, p->why_size, "the read-only-after-relocation range (0x%llx, %llu bytes) is not "
                            "inside a writable segment", (unsigned long long)vaddr, (unsigned long long)memsz);
            e->relro_vaddr = vaddr;
            e->relro_size = vaddr + memsz < l->vaddr + l->memsz ? memsz : l->vaddr + l->memsz - vaddr;
            break;
        }
        case PT_NOTE:
        case PT_GNU_PROPERTY:
            /* the loader reads p_memsz bytes of notes */
            if (memsz != filesz)
                return fail(p->why, p->why_size, "note segment %u has %llu bytes in memory, %llu in the file", k,
                            (unsigned long long)memsz, (unsigned long long)filesz);
            if (check_notes(p, k, vaddr, filesz, rd(ph + 48, 8)))
                return -1;
            break;
        case PT_INTERP:
            return fail(p->why, p->why_size, "it names a program interpreter (PT_INTERP): an executable, not a "
                        "library");
        case PT_TLS:
            return fail(p->why, p->why_size, "it has thread-local storage (PT_TLS)");
        default:
            return fail(p->why, p->why_size, "program header %u has an unknown type 0x%x", k, (unsigned)type);
        }
    }
    if (!p->have_dynamic)
        return fail(p->why, p->why_size, "no dynamic segment: not a shared library");
    if (!p->have_stack)
        return fail(p->why, p->why_size, "no PT_GNU_STACK header (the loader would make the stack executable)");
    return 0;
}

/* ---- the dynamic section ------------------------------------------------------------ */

static const char *refused_tag(int64_t tag)
{
    switch (tag) {
    case DT_INIT: return "it runs code when loaded (DT_INIT)";
    case DT_FINI: return "it runs code when unloaded (DT_FINI)";
    case DT_INIT_ARRAY:
    case DT_INIT_ARRAYSZ: return "it runs code when loaded (DT_INIT_ARRAY: constructors)";
    case DT_FINI_ARRAY:
    case DT_FINI_ARRAYSZ: return "it runs code when unloaded (DT_FINI_ARRAY: destructors)";
    case DT_PREINIT_ARRAY:
    case DT_PREINIT_ARRAYSZ: return "it runs code when loaded (DT_PREINIT_ARRAY)";
    case DT_TEXTREL: return "it has text relocations (DT_TEXTREL)";
    case DT_RPATH: return "it sets a library search path (DT_RPATH)";
    case DT_RUNPATH: return "it sets a library search path (DT_RUNPATH)";
    case DT_AUDIT:
    case DT_DEPAUDIT: return "it names audit libraries (DT_AUDIT)";
    case DT_HASH: return "it has a SysV hash table (DT_HASH); only GNU hash tables are read";
    case DT_VERDEF:
    case DT_VERDEFNUM: return "it defines symbol versions (DT_VERDEF)";
    case DT_REL:
    case DT_RELSZ:
    case DT_RELENT: return "it has REL relocations (x86-64 uses RELA)";
    case DT_RELR:
    case DT_RELRSZ:
    case DT_RELRENT: return "it has packed relative relocations (DT_RELR)";
    case DT_DEBUG: return "it has a DT_DEBUG entry (an executable's)";
    default: return NULL;
    }
}

static int known_tag(int64_t tag)
{
    switch (tag) {
    case DT_NEEDED: case DT_PLTRELSZ: case DT_PLTGOT: case DT_STRTAB: case DT_SYMTAB: case DT_RELA:
    case DT_RELASZ: case DT_RELAENT: case DT_STRSZ: case DT_SYMENT: case DT_SONAME: case DT_SYMBOLIC:
    case DT_PLTREL: case DT_JMPREL: case DT_BIND_NOW: case DT_FLAGS: case DT_GNU_HASH: case DT_VERSYM:
    case DT_RELACOUNT: case DT_FLAGS_1: case DT_VERNEED: case DT_VERNEEDNUM:
        return 1;
    default:
        return 0;
    }
}

static int read_dynamic(parse *p)
{
    base_elf *e = p->e;
    uint64_t off;
    if (p->dyn_size < DYN_SIZE || p->dyn_size % DYN_SIZE)
        return fail(p->why, p->why_size, "the dynamic section is %llu bytes, not a whole number of entries",
                    (unsigned long long)p->dyn_size);
    /* writable by convention: check_relocs keeps relocations out of it */
    if (table_in(p, "dynamic section", p->dyn_vaddr, p->dyn_size, &off, 1))
        return -1;
    e->dyn_off = off;
    const uint64_t count = p->dyn_size / DYN_SIZE;
    uint64_t i = 0;
    for (; i < count; i++) {
        int64_t tag = (int64_t)rd(e->data + off + i * DYN_SIZE, 8);
        uint64_t val = rd(e->data + off + i * DYN_SIZE + 8, 8);
        if (tag == DT_NULL)
            break;
        const char *no = refused_tag(tag);
        if (no)
            return fail(p->why, p->why_size, "%s", no);
        if (!known_tag(tag))
            return fail(p->why, p->why_size, "dynamic entry %llu has a tag this loader check does not know "
                        "(0x%llx)", (unsigned long long)i, (unsigned long long)tag);
        int s = tag_slot(tag);
        if (s < 0)
            continue;   /* DT_NEEDED, DT_SONAME: strings, checked once the string table is known */
        if (p->seen[s]++)
            return fail(p->why, p->why_size, "dynamic tag %lld appears twice", (long long)tag);
        p->val[s] = val;
    }
    if (i == count)
        return fail(p->why, p->why_size, "the dynamic section has no DT_NULL end");
    e->n_dyn = i;
    if (value(p, DT_FLAGS) & (DF_TEXTREL | DF_STATIC_TLS))
        return fail(p->why, p->why_size, "DT_FLAGS 0x%llx asks for text relocations or static TLS",
                    (unsigned long long)value(p, DT_FLAGS));
    return 0;
}

static int need(parse *p, int64_t tag, const char *name)
{
    if (!has(p, tag))
        return fail(p->why, p->why_size, "no %s in the dynamic section", name);
    return 0;
}

static int check_strings(parse *p)
{
    base_elf *e = p->e;
    uint64_t off;
    if (need(p, DT_STRTAB, "DT_STRTAB") || need(p, DT_STRSZ, "DT_STRSZ"))
        return -1;
    uint64_t size = value(p, DT_STRSZ);
    if (size < 1 || size > e->size)
        return fail(p->why, p->why_size, "string table of %llu bytes", (unsigned long long)size);
    if (table(p, "string table", value(p, DT_STRTAB), size, &off))
        return -1;
    if (e->data[off + size - 1] != 0)
        return fail(p->why, p->why_size, "the string table does not end with a NUL");
    e->strtab_off = off;
    e->strtab_size = size;
    for (uint64_t i = 0; i < e->n_dyn; i++) {
        int64_t tag;
        uint64_t val;
        base_elf_dynamic(e, i, &tag, &val);
        if ((tag == DT_NEEDED || tag == DT_SONAME) && val >= size)
            return fail(p->why, p->why_size, "dynamic entry %llu names a string outside the string table",
                        (unsigned long long)i);
    }
    return 0;
}

/* The GNU hash table gives the symbol count: the last chain ends the table. */
static int check_gnu_hash(parse *p)
{
    base_elf *e = p->e;
    uint64_t off, hv = value(p, DT_GNU_HASH);
    if (need(p, DT_GNU_HASH, "GNU hash table (DT_GNU_HASH)") || table(p, "GNU hash table", hv, 16, &off))
        return -1;
    const uchar *h = e->data + off;
    uint64_t nbuckets = rd(h, 4), symoffset = rd(h + 4, 4), bloom = rd(h + 8, 4), shift = rd(h + 12, 4);
    if (nbuckets < 1 || nbuckets > MAX_BUCKETS || symoffset < 1 || symoffset > MAX_SYMS || bloom < 1 ||
        bloom > MAX_BUCKETS || (bloom & (bloom - 1)) || shift >= 32)
        return fail(p->why, p->why_size, "GNU hash table header (%llu buckets, first symbol %llu, %llu bloom words, "
                    "shift %llu) is malformed", (unsigned long long)nbuckets, (unsigned long long)symoffset,
                    (unsigned long long)bloom, (unsigned long long)shift);
    const uint64_t buckets_va = hv + 16 + bloom * 8, chain_va = buckets_va + nbuckets * 4;
    if (table(p, "GNU hash table", hv, 16 + bloom * 8 + nbuckets * 4, &off))
        return -1;
    const uchar *buckets = e->data + off + 16 + bloom * 8;
    uint64_t top = 0;
    for (uint64_t b = 0; b < nbuckets; b++) {
        uint64_t v = rd(buckets + b * 4, 4);
        if (v != 0 && (v < symoffset || v >= MAX_SYMS))
            return fail(p->why, p->why_size, "GNU hash bucket %llu starts at symbol %llu, outside %llu..%u",
                        (unsigned long long)b, (unsigned long long)v, (unsigned long long)symoffset, MAX_SYMS);
        top = v > top ? v : top;
    }
    uint64_t n = symoffset;
    if (top) {
        /* every chain runs upwards to its first end mark, so all end by the highest bucket's */
        for (uint64_t i = top;; i++) {
            if (i >= MAX_SYMS)
                return fail(p->why, p->why_size, "a GNU hash chain does not end");
            if (table(p, "GNU hash chain", chain_va + (i - symoffset) * 4, 4, &off))
                return -1;
            if (rd(e->data + off, 4) & 1) {
                n = i + 1;
                break;
            }
        }
    }
    e->n_syms = n;
    return 0;
}

static int check_symbols(parse *p)
{
    base_elf *e = p->e;
    uint64_t off;
    if (need(p, DT_SYMTAB, "DT_SYMTAB") || need(p, DT_SYMENT, "DT_SYMENT"))
        return -1;
    if (value(p, DT_SYMENT) != SYM_SIZE)
        return fail(p->why, p->why_size, "symbol entries of %llu bytes, expected 24",
                    (unsigned long long)value(p, DT_SYMENT));
    if (table(p, "symbol table", value(p, DT_SYMTAB), e->n_syms * SYM_SIZE, &off))
        return -1;
    e->symtab_off = off;
    for (uint64_t i = 1; i < e->n_syms; i++) {
        const uchar *s = e->data + off + i * SYM_SIZE;
        uint64_t name = rd(s, 4), value = rd(s + 8, 8), size = rd(s + 16, 8);
        unsigned type = s[4] & 0xf, bind = s[4] >> 4, shndx = (unsigned)rd(s + 6, 2);
        if (name >= e->strtab_size)
            return fail(p->why, p->why_size, "symbol %llu's name lies outside the string table",
                        (unsigned long long)i);
        const char *nm = base_elf_string(e, name);
        if (type == STT_GNU_IFUNC)
            return fail(p->why, p->why_size, "symbol '%.64s' is an IFUNC (its resolver would run when loaded)", nm);
        if (type == STT_TLS)
            return fail(p->why, p->why_size, "symbol '%.64s' is thread-local", nm);
        if (bind == STB_GNU_UNIQUE)
            return fail(p->why, p->why_size, "symbol '%.64s' is a GNU unique symbol", nm);
        if (shndx != 0 && shndx != SHN_ABS && !base_elf_segment(e, value, size))
            return fail(p->why, p->why_size, "symbol '%.64s' (0x%llx, %llu bytes) lies outside the loaded segments",
                        nm, (unsigned long long)value, (unsigned long long)size);
    }
    return 0;
}

/* Whether name is one of the DT_NEEDED libraries. */
static int is_needed(const base_elf *e, const char *name)
{
    for (uint64_t i = 0; i < e->n_dyn; i++) {
        int64_t tag;
        uint64_t val;
        base_elf_dynamic(e, i, &tag, &val);
        if (tag == DT_NEEDED && strcmp(base_elf_string(e, val), name) == 0)
            return 1;
    }
    return 0;
}

/* Version needs: the loader walks them by vn_next / vna_next until a zero. */
static int check_versions(parse *p)
{
    base_elf *e = p->e;
    uint64_t off;
    const int has_versym = has(p, DT_VERSYM), has_verneed = has(p, DT_VERNEED);
    if (has_verneed) {
        uint64_t num = has(p, DT_VERNEEDNUM) ? value(p, DT_VERNEEDNUM) : 0;
        if (num < 1 || num > MAX_VERNEED)
            return fail(p->why, p->why_size, "DT_VERNEEDNUM = %llu, expected 1..%d", (unsigned long long)num,
                        MAX_VERNEED);
        uint64_t va = value(p, DT_VERNEED);
        for (uint64_t k = 0;; k++) {
            if (k == num)
                return fail(p->why, p->why_size, "more version needs than DT_VERNEEDNUM = %llu",
                            (unsigned long long)num);
            if (table(p, "version needs", va, 16, &off))
                return -1;
            const uchar *vn = e->data + off;
            uint64_t cnt = rd(vn + 2, 2), file = rd(vn + 4, 4), aux = rd(vn + 8, 4), next = rd(vn + 12, 4);
            if (rd(vn, 2) != 1 || file >= e->strtab_size || cnt < 1 || cnt > MAX_VERNEED)
                return fail(p->why, p->why_size, "version need %llu is malformed", (unsigned long long)k);
            if (!is_needed(e, base_elf_string(e, file)))   /* the loader asserts the library is loaded */
                return fail(p->why, p->why_size, "version need %llu names '%.64s', not a needed library",
                            (unsigned long long)k, base_elf_string(e, file));
            uint64_t ava = va + aux;
            for (uint64_t j = 0;; j++) {
                if (j == cnt)
                    return fail(p->why, p->why_size, "version need %llu has more entries than its count",
                                (unsigned long long)k);
                if (table(p, "version need entries", ava, 16, &off))
                    return -1;
                const uchar *a = e->data + off;
                uint64_t other = rd(a + 6, 2) & 0x7fff, name = rd(a + 8, 4), anext = rd(a + 12, 4);
                if (name >= e->strtab_size)
                    return fail(p->why, p->why_size, "a version name lies outside the string table");
                p->max_version = other > p->max_version ? other : p->max_version;
                if (anext == 0) {
                    if (j + 1 != cnt)
                        return fail(p->why, p->why_size, "version need %llu has fewer entries than its count",
                                    (unsigned long long)k);
                    break;
                }
                ava += anext;
            }
            if (next == 0) {
                if (k + 1 != num)
                    return fail(p->why, p->why_size, "fewer version needs than DT_VERNEEDNUM = %llu",
                                (unsigned long long)num);
                break;
            }
            va += next;
        }
    }
    if (has_verneed && !has_versym)   /* glibc's version pass reads DT_VERSYM once there are needs */
        return fail(p->why, p->why_size, "version needs without a symbol version table (DT_VERSYM)");
    if (has_versym) {
        if (!has_verneed)
            return fail(p->why, p->why_size, "a symbol version table without version needs");
        if (table(p, "symbol version table", value(p, DT_VERSYM), e->n_syms * 2, &off))
            return -1;
        for (uint64_t i = 0; i < e->n_syms; i++)
            if ((rd(e->data + off + i * 2, 2) & 0x7fff) > (p->max_version > 1 ? p->max_version : 1))
                return fail(p->why, p->why_size, "symbol %llu has version index %llu, beyond the version tables",
                            (unsigned long long)i, (unsigned long long)(rd(e->data + off + i * 2, 2) & 0x7fff));
    }
    return 0;
}

static const char *reloc_type_note(uint32_t type)
{
    switch (type) {
    case 0: return "R_X86_64_NONE";
    case 5: return "R_X86_64_COPY, an executable's";
    case 16: case 17: case 18: case 19: case 20: case 21: case 22: case 23: case 36: return "thread-local storage";
    case 37: return "R_X86_64_IRELATIVE: an IFUNC resolver would run when loaded";
    case 2: case 10: case 11: case 12: case 13: case 14: case 15: case 24: return "a text relocation";
    default: return "not one a compiled library needs";
    }
}

/* One relocation table: its address, size and a third tag that must hold
 * `want` (the entry size for DT_RELA, the entry kind DT_RELA for the PLT's);
 * absent when neither the address nor the size is there. */
static int reloc_table(parse *p, const char *what, int64_t at, const char *at_name, int64_t size,
                       const char *size_name, int64_t kind, const char *kind_name, uint64_t want, uint64_t *off,
                       uint64_t *n)
{
    if (!has(p, at) && !has(p, size))
        return 0;
    if (need(p, at, at_name) || need(p, size, size_name) || need(p, kind, kind_name))
        return -1;
    if (value(p, kind) != want || value(p, size) % RELA_SIZE || value(p, size) / RELA_SIZE > MAX_RELOCS)
        return fail(p->why, p->why_size, "%s of %llu bytes with %s = %llu", what,
                    (unsigned long long)value(p, size), kind_name, (unsigned long long)value(p, kind));
    if (table(p, what, value(p, at), value(p, size), off))
        return -1;
    *n = value(p, size) / RELA_SIZE;
    return 0;
}

static int check_relocs(parse *p)
{
    base_elf *e = p->e;
    if (reloc_table(p, "relocation table", DT_RELA, "DT_RELA", DT_RELASZ, "DT_RELASZ", DT_RELAENT, "DT_RELAENT",
                    RELA_SIZE, &e->rela_off, &e->n_rela) ||
        reloc_table(p, "PLT relocation table", DT_JMPREL, "DT_JMPREL", DT_PLTRELSZ, "DT_PLTRELSZ", DT_PLTREL,
                    "DT_PLTREL", DT_RELA, &e->jmprel_off, &e->n_jmprel))
        return -1;
    if (has(p, DT_PLTREL) && value(p, DT_PLTREL) != DT_RELA)   /* the loader asserts it */
        return fail(p->why, p->why_size, "DT_PLTREL = %llu, expected DT_RELA", (unsigned long long)value(p, DT_PLTREL));
    uint64_t relative = has(p, DT_RELACOUNT) ? value(p, DT_RELACOUNT) : 0;
    if (relative > e->n_rela)
        return fail(p->why, p->why_size, "DT_RELACOUNT = %llu, but there are %llu relocations",
                    (unsigned long long)relative, (unsigned long long)e->n_rela);
    if (has(p, DT_PLTGOT)) {
        const base_elf_load *l = base_elf_segment(e, value(p, DT_PLTGOT), 24);
        if (!l || !(l->flags & BASE_ELF_PF_W))
            return fail(p->why, p->why_size, "the PLT's GOT (0x%llx) is not in a writable segment",
                        (unsigned long long)value(p, DT_PLTGOT));
    }
    for (uint64_t i = 0; i < e->n_rela + e->n_jmprel; i++) {
        base_elf_rela r;
        base_elf_relocation(e, i, &r);
        const int plain = r.type == BASE_ELF_R_RELATIVE;
        if (!plain && r.type != BASE_ELF_R_64 && r.type != BASE_ELF_R_GLOB_DAT && r.type != BASE_ELF_R_JUMP_SLOT)
            return fail(p->why, p->why_size, "relocation %llu has type %u (%s)", (unsigned long long)i,
                        (unsigned)r.type, reloc_type_note(r.type));
        if (i < relative && !plain)
            return fail(p->why, p->why_size, "relocation %llu is counted by DT_RELACOUNT but is not relative",
                        (unsigned long long)i);
        if (plain ? r.sym != 0 : (r.sym == 0 || r.sym >= e->n_syms))
            return fail(p->why, p->why_size, "relocation %llu names symbol %u (of %llu)", (unsigned long long)i,
                        (unsigned)r.sym, (unsigned long long)e->n_syms);
        const base_elf_load *l = base_elf_segment(e, r.offset, 8);
        if (!l || !(l->flags & BASE_ELF_PF_W))
            return fail(p->why, p->why_size, "relocation %llu writes at 0x%llx, outside the writable segments",
                        (unsigned long long)i, (unsigned long long)r.offset);
        /* the loader reads the dynamic section again after relocating (dlsym's string table, ...) */
        if (r.offset < p->dyn_vaddr + p->dyn_size && r.offset + 8 > p->dyn_vaddr)
            return fail(p->why, p->why_size, "relocation %llu writes into the dynamic section",
                        (unsigned long long)i);
    }
    return 0;
}

int base_elf_parse(base_elf *e, const void *data, uint64_t size, unsigned machine, char *why, size_t why_size)
{
    memset(e, 0, sizeof *e);
    e->data = data;
    e->size = size;
    if (why && why_size)
        why[0] = 0;
    if (size < 4 || memcmp(data, "\x7f" "ELF", 4) != 0) {
        fail(why, why_size, "no ELF magic: not a shared object");
        return -2;
    }
    parse p = {.e = e, .why = why, .why_size = why_size};
    if (check_header(&p, machine) || check_segments(&p) || read_dynamic(&p) || check_strings(&p) ||
        check_gnu_hash(&p) || check_symbols(&p) || check_versions(&p) || check_relocs(&p))
        return -1;
    return 0;
}

/* ---- lookups ------------------------------------------------------------------------ */

void base_elf_symbol(const base_elf *e, uint64_t i, base_elf_sym *out)
{
    const uchar *s = e->data + e->symtab_off + i * SYM_SIZE;
    out->name = base_elf_string(e, rd(s, 4));
    out->type = s[4] & 0xf;
    out->bind = s[4] >> 4;
    out->shndx = (unsigned)rd(s + 6, 2);
    out->value = rd(s + 8, 8);
    out->size = rd(s + 16, 8);
}

int64_t base_elf_find_symbol(const base_elf *e, const char *name)
{
    for (uint64_t i = 1; i < e->n_syms; i++) {
        base_elf_sym s;
        base_elf_symbol(e, i, &s);
        if (s.shndx != 0 && s.name && strcmp(s.name, name) == 0)
            return (int64_t)i;
    }
    return -1;
}

void base_elf_relocation(const base_elf *e, uint64_t i, base_elf_rela *out)
{
    const uchar *r = i < e->n_rela ? e->data + e->rela_off + i * RELA_SIZE
                                   : e->data + e->jmprel_off + (i - e->n_rela) * RELA_SIZE;
    uint64_t info = rd(r + 8, 8);
    out->offset = rd(r, 8);
    out->type = (uint32_t)(info & 0xffffffffu);
    out->sym = (uint32_t)(info >> 32);
    out->addend = (int64_t)rd(r + 16, 8);
}

void base_elf_dynamic(const base_elf *e, uint64_t i, int64_t *tag, uint64_t *val)
{
    const uchar *d = e->data + e->dyn_off + i * DYN_SIZE;
    *tag = (int64_t)rd(d, 8);
    *val = rd(d + 8, 8);
}

/* ---- the digest --------------------------------------------------------------------- */

/* Bytes [lo, hi) of the file into d, [zlo, zhi) as zeros, [slo, shi) left out. */
static void digest_range(base_digest *d, const uchar *data, uint64_t lo, uint64_t hi, uint64_t zlo, uint64_t zhi,
                         uint64_t slo, uint64_t shi)
{
    uint64_t pos = lo;
    while (pos < hi) {
        if (pos >= slo && pos < shi) {
            pos = shi < hi ? shi : hi;
            continue;
        }
        if (pos >= zlo && pos < zhi) {
            uint64_t end = zhi < hi ? zhi : hi;
            base_digest_zeros(d, end - pos);
            pos = end;
            continue;
        }
        uint64_t end = hi;
        if (zlo > pos && zlo < end)
            end = zlo;
        if (slo > pos && slo < end)
            end = slo;
        base_digest_update(d, data + pos, (size_t)(end - pos));
        pos = end;
    }
}

uint64_t base_elf_digest(const base_elf *e, uint64_t zero_off, uint64_t zero_len, uint64_t skip_off,
                         uint64_t skip_len)
{
    base_digest d;
    base_digest_init(&d, 0);
    const uint64_t zhi = zero_off + zero_len, shi = skip_off + skip_len;
    digest_range(&d, e->data, 0, EHDR_SIZE, zero_off, zhi, skip_off, shi);
    digest_range(&d, e->data, e->phoff, e->phoff + (uint64_t)e->phnum * PHDR_SIZE, zero_off, zhi, skip_off, shi);
    for (int i = 0; i < e->n_load; i++)
        digest_range(&d, e->data, e->load[i].offset, e->load[i].offset + e->load[i].filesz, zero_off, zhi, skip_off,
                     shi);
    return base_digest_final(&d);
}
