/* elf_file.h — a strict reader of ELF64 little-endian x86-64 shared objects, for
 * deciding whether a file may be handed to dlopen at all.
 *
 * base_elf_parse checks, on the file's bytes in memory, everything the
 * dynamic loader will read or write while loading the object, so that a
 * corrupt, truncated or hostile file is refused with a reason instead of
 * crashing inside the loader or running code:
 *   - the ELF header (class, byte order, type, machine) and the program
 *     headers (segments inside the file, ascending, aligned, none both
 *     writable and executable, a non-executable stack);
 *   - the dynamic section: only tags it knows; every table it names (strings,
 *     symbols, GNU hash, versions, relocations) inside the file-backed part of
 *     a loaded segment, with consistent sizes, and the string table ending in
 *     a NUL;
 *   - that loading runs no code of the object: no DT_INIT / DT_FINI /
 *     *_ARRAY, no IFUNC symbols or IRELATIVE relocations, no text
 *     relocations, no TLS, no RPATH / RUNPATH or audit libraries;
 *   - every relocation writes 8 bytes inside a writable segment, with a
 *     symbol index inside the symbol table; the GNU hash table's chains end
 *     inside it; version indices stay inside the version tables.
 * What the object is for (which symbols and libraries it may have) is the
 * caller's policy: runtime/model_file.c for compiled models.
 *
 * Nothing here allocates; the parsed record points into the caller's bytes.
 */
#ifndef BASE_ELF_FILE_H
#define BASE_ELF_FILE_H

#include <stddef.h>
#include <stdint.h>

#define BASE_ELF_MACHINE_X86_64 62
#define BASE_ELF_MAX_LOAD 16          /* PT_LOAD segments accepted */
#define BASE_ELF_PF_X 1u
#define BASE_ELF_PF_W 2u
#define BASE_ELF_PF_R 4u

/* Relocation types (x86-64) a parsed object may hold. */
#define BASE_ELF_R_64 1u
#define BASE_ELF_R_GLOB_DAT 6u
#define BASE_ELF_R_JUMP_SLOT 7u
#define BASE_ELF_R_RELATIVE 8u

typedef struct base_elf_load {
    uint64_t offset, vaddr, filesz, memsz;
    uint32_t flags;   /* BASE_ELF_PF_* */
} base_elf_load;

typedef struct base_elf_sym {
    const char *name;      /* inside the string table, NUL-terminated */
    uint64_t value, size;
    unsigned type, bind;   /* STT_*, STB_* */
    unsigned shndx;        /* 0: undefined */
} base_elf_sym;

typedef struct base_elf_rela {
    uint64_t offset;       /* the vaddr written */
    uint32_t type, sym;
    int64_t addend;
} base_elf_rela;

typedef struct base_elf {
    const unsigned char *data;
    uint64_t size;
    uint64_t phoff;
    unsigned phnum;
    int n_load;
    base_elf_load load[BASE_ELF_MAX_LOAD];
    uint64_t relro_vaddr, relro_size;   /* 0, 0 without PT_GNU_RELRO */
    uint64_t dyn_off, n_dyn;            /* the dynamic entries (DT_NULL excluded) */
    uint64_t strtab_off, strtab_size;
    uint64_t symtab_off, n_syms;
    uint64_t rela_off, n_rela;          /* DT_RELA, then DT_JMPREL: one index space */
    uint64_t jmprel_off, n_jmprel;
} base_elf;

/* Parses and checks data[0..size) as a shared object for `machine`
 * (BASE_ELF_MACHINE_X86_64).  0 on success; -1 with the reason in why (one
 * line, e.g. "built for aarch64 (e_machine 183), not x86-64"); -2 when the
 * bytes do not even start with the ELF magic. */
int base_elf_parse(base_elf *e, const void *data, uint64_t size, unsigned machine, char *why, size_t why_size);

/* The file offset of vaddr[0..len), which must lie in the file-backed part
 * of one PT_LOAD segment; -1 if it does not. */
int base_elf_file_offset(const base_elf *e, uint64_t vaddr, uint64_t len, uint64_t *offset);
/* The PT_LOAD segment whose memory holds vaddr[0..len), or NULL. */
const base_elf_load *base_elf_segment(const base_elf *e, uint64_t vaddr, uint64_t len);

/* Symbol i < n_syms. */
void base_elf_symbol(const base_elf *e, uint64_t i, base_elf_sym *out);
/* The index of the defined dynamic symbol `name`, or -1. */
int64_t base_elf_find_symbol(const base_elf *e, const char *name);
/* Relocation i < n_rela + n_jmprel. */
void base_elf_relocation(const base_elf *e, uint64_t i, base_elf_rela *out);
/* Dynamic entry i < n_dyn. */
void base_elf_dynamic(const base_elf *e, uint64_t i, int64_t *tag, uint64_t *val);
/* The string at offset off of the dynamic string table, or NULL if outside. */
const char *base_elf_string(const base_elf *e, uint64_t off);

/* The digest (base/digest.h) of what the loader maps: the ELF header, the
 * program headers and each PT_LOAD's file bytes in header order, with the
 * file bytes [zero_off, zero_off + zero_len) read as zeros and
 * [skip_off, skip_off + skip_len) left out (either length may be 0). */
uint64_t base_elf_digest(const base_elf *e, uint64_t zero_off, uint64_t zero_len, uint64_t skip_off,
                         uint64_t skip_len);

#endif /* BASE_ELF_FILE_H */
