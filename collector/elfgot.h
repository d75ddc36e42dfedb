/* elfgot.h: the relocation slots of the ELF objects loaded in this process -- which GOT
 * entries import which symbol, and how to overwrite one across RELRO.  collector/
 * nativehook.c uses it to route every object's calls to malloc & co. through its hooks.
 * Plain C (no Python.h): tests/test_elfgot.c runs it on the test binary itself and on
 * synthetic objects.
 *
 * An object is what dl_iterate_phdr describes (its load bias, program headers, name).
 * Its PT_DYNAMIC segment locates the relocation tables (DT_JMPREL with DT_PLTRELSZ and
 * DT_PLTREL, DT_RELA with DT_RELASZ and DT_RELAENT) and the dynamic symbol and string
 * tables (DT_SYMTAB, DT_SYMENT, DT_STRTAB, DT_STRSZ).  Each JUMP_SLOT relocation (a PLT
 * call) and GLOB_DAT relocation (a function's address loaded from the GOT: -fno-plt calls,
 * function pointers) that imports a symbol -- undefined in the object itself -- names one
 * slot: an address-sized word the dynamic linker filled with the function's address, or,
 * for a PLT slot not yet bound (lazy binding), with the address of the object's own PLT
 * stub that binds it.  Every call the object makes to that function loads the slot.
 *
 * Only RELA objects of x86-64 and AArch64 are supported (PF_ELFGOT_SUPPORTED); elsewhere
 * pf_elfgot_scan fails.  Dynamic-section pointers are relocated in place by glibc's
 * loader but not by every loader: a value below the load bias is taken as a virtual
 * address and rebased.  Every table and slot is checked to lie inside the object's
 * PT_LOAD segments before it is read or written.
 */
#ifndef PF_COLLECTOR_ELFGOT_H
#define PF_COLLECTOR_ELFGOT_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define PF_ELFGOT_SUPPORTED 1
#else
#define PF_ELFGOT_SUPPORTED 0
#endif

/* A loaded object, as dl_iterate_phdr gives it (borrowed pointers). */
typedef struct pf_elfgot_obj {
    uintptr_t base;                 /* load bias (dlpi_addr): vaddr + base = address */
    const ElfW(Phdr) *phdr;
    size_t phnum;
    const char *name;               /* dlpi_name ("" for the main program), for messages */
} pf_elfgot_obj;

/* Fills o from a dl_iterate_phdr callback's argument. */
void pf_elfgot_from_phdr(pf_elfgot_obj *o, const struct dl_phdr_info *info);

enum pf_elfgot_kind {
    PF_ELFGOT_PLT = 1,              /* JUMP_SLOT: a PLT call; lazily bound slots hold a stub */
    PF_ELFGOT_DATA = 2              /* GLOB_DAT: the function's address, always bound */
};

/* One import slot. */
typedef struct pf_elfgot_reloc {
    void **slot;                    /* the slot's address (inside the object) */
    const char *name;               /* the imported symbol's name (in the object's strtab) */
    int kind;                       /* enum pf_elfgot_kind */
    int canonical;                  /* the object's symbol is undefined yet has a value: an
                                       executable's PLT entry that is the function's address
                                       for the whole program (non-PIE code took it), so
                                       calls through that entry read this very slot */
} pf_elfgot_reloc;

/* Calls visit(ctx, &reloc) for every JUMP_SLOT and GLOB_DAT relocation of o that imports
 * a named symbol, in table order (DT_JMPREL's, then DT_RELA's; a slot may come twice when
 * the tables overlap), until visit returns nonzero.  The tables are checked first, so
 * nothing is visited in a malformed object.  Returns 0 (also for an object without a
 * dynamic section), or -1 when o is malformed or of an unsupported kind (REL tables, an
 * unknown machine). */
int pf_elfgot_scan(const pf_elfgot_obj *o, int (*visit)(void *ctx, const pf_elfgot_reloc *r),
                   void *ctx);

/* 1 if [addr, addr + len) lies inside o's PT_LOAD segments (executable ones only when exec
 * is nonzero), one or several adjacent ones, else 0.  len 0 counts as 1. */
int pf_elfgot_contains(const pf_elfgot_obj *o, uintptr_t addr, size_t len, int exec);

/* Stores value into slot (one of o's slots) atomically.  When the slot lies in the part of
 * o that the loader made read-only after relocation (PT_GNU_RELRO, whole pages only, as
 * glibc protects it), its page is made writable for the store and read-only again after.
 * Returns 0, or -1 with errno set when the protection cannot be changed (nothing is
 * written then). */
int pf_elfgot_write(const pf_elfgot_obj *o, void **slot, void *value);

/* 1 if o's dynamic section has DT_RPATH or DT_RUNPATH: libraries it dlopen()s by bare name
 * are searched there first. */
int pf_elfgot_has_search_path(const pf_elfgot_obj *o);

#endif
