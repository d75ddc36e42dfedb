/* elfgot.c: finding and overwriting the import slots of loaded ELF objects (elfgot.h).
 *
 * A scan reads the dynamic section once into a small table of what it needs, checks that
 * every table lies inside the object's loaded segments and that every relocation's symbol
 * and name do too, and only then visits the import slots: a bad object is refused whole,
 * never half patched.
 */
#include "collector/elfgot.h"

#include <elf.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#define R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define R_GLOB_DAT R_AARCH64_GLOB_DAT
#endif

#if UINTPTR_MAX > 0xffffffffu
#define R_SYM(i) ELF64_R_SYM(i)
#define R_TYPE(i) ELF64_R_TYPE(i)
#else
#define R_SYM(i) ELF32_R_SYM(i)
#define R_TYPE(i) ELF32_R_TYPE(i)
#endif

void pf_elfgot_from_phdr(pf_elfgot_obj *o, const struct dl_phdr_info *info)
{
    o->base = (uintptr_t)info->dlpi_addr;
    o->phdr = info->dlpi_phdr;
    o->phnum = info->dlpi_phnum;
    o->name = info->dlpi_name ? info->dlpi_name : "";
}

/* The PT_LOAD segment (executable only if exec) holding address a, or NULL. */
static const ElfW(Phdr) *segment_at(const pf_elfgot_obj *o, uintptr_t a, int exec)
{
    for (size_t i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        if (ph->p_type != PT_LOAD || (exec && !(ph->p_flags & PF_X)))
            continue;
        uintptr_t lo = o->base + (uintptr_t)ph->p_vaddr;
        if (a >= lo && a - lo < ph->p_memsz)
            return ph;
    }
    return NULL;
}

int pf_elfgot_contains(const pf_elfgot_obj *o, uintptr_t addr, size_t len, int exec)
{
    if (len == 0)
        len = 1;                     /* an empty range: its address must still be inside */
    if (len > UINTPTR_MAX - addr)
        return 0;
    uintptr_t end = addr + len;
    /* A range may span adjacent segments (patchelf puts a grown string table right before
     * the first one): step from segment to segment, each ending further on. */
    for (size_t steps = 0; steps < o->phnum; steps++) {
        const ElfW(Phdr) *ph = segment_at(o, addr, exec);
        if (ph == NULL)
            return 0;
        addr = o->base + (uintptr_t)ph->p_vaddr + (uintptr_t)ph->p_memsz;
        if (addr >= end)
            return 1;
    }
    return 0;
}

static const ElfW(Dyn) *dynamic_of(const pf_elfgot_obj *o)
{
    for (size_t i = 0; i < o->phnum; i++)
        if (o->phdr[i].p_type == PT_DYNAMIC)
            return (const ElfW(Dyn) *)(o->base + (uintptr_t)o->phdr[i].p_vaddr);
    return NULL;
}

/* A dynamic-section pointer as an address (see elfgot.h: glibc relocates them in place,
 * other loaders do not). */
static uintptr_t dyn_ptr(const pf_elfgot_obj *o, uintptr_t v)
{
    return v < o->base ? v + o->base : v;
}

/* What a scan needs from the dynamic section. */
struct dyninfo {
    uintptr_t jmprel, relsz_plt, pltrel;
    uintptr_t rela, relasz, relaent;
    uintptr_t symtab, syment, strtab, strsz;
};

static void read_dynamic(const pf_elfgot_obj *o, const ElfW(Dyn) *d, struct dyninfo *di)
{
    memset(di, 0, sizeof *di);
    di->relaent = sizeof(ElfW(Rela));
    di->syment = sizeof(ElfW(Sym));
    /* Bounded: a dynamic section without DT_NULL stops at the end of its segment. */
    for (; d->d_tag != DT_NULL && pf_elfgot_contains(o, (uintptr_t)d, sizeof *d, 0); d++) {
        uintptr_t v = (uintptr_t)d->d_un.d_val;
        switch (d->d_tag) {
        case DT_JMPREL:   di->jmprel = dyn_ptr(o, v); break;
        case DT_PLTRELSZ: di->relsz_plt = v; break;
        case DT_PLTREL:   di->pltrel = v; break;
        case DT_RELA:     di->rela = dyn_ptr(o, v); break;
        case DT_RELASZ:   di->relasz = v; break;
        case DT_RELAENT:  di->relaent = v; break;
        case DT_SYMTAB:   di->symtab = dyn_ptr(o, v); break;
        case DT_SYMENT:   di->syment = v; break;
        case DT_STRTAB:   di->strtab = dyn_ptr(o, v); break;
        case DT_STRSZ:    di->strsz = v; break;
        default: break;
        }
    }
}

/* The relocation types that name an import slot. */
static int slot_kind(uintptr_t type)
{
#if PF_ELFGOT_SUPPORTED
    if (type == R_JUMP_SLOT)
        return PF_ELFGOT_PLT;
    if (type == R_GLOB_DAT)
        return PF_ELFGOT_DATA;
#else
    (void)type;
#endif
    return 0;
}

/* Checks one table's relocations (visit == NULL) or visits them.  0, 1 when visit asked
 * to stop, -1 when malformed. */
static int walk(const pf_elfgot_obj *o, const struct dyninfo *di, uintptr_t table,
                uintptr_t size, int (*visit)(void *, const pf_elfgot_reloc *), void *ctx)
{
    if (table == 0 || size == 0)
        return 0;
    if (size % sizeof(ElfW(Rela)) != 0 || !pf_elfgot_contains(o, table, size, 0))
        return -1;
    const ElfW(Rela) *r = (const ElfW(Rela) *)table;
    size_t n = size / sizeof *r;
    for (size_t i = 0; i < n; i++) {
        int kind = slot_kind((uintptr_t)R_TYPE(r[i].r_info));
        size_t sym = (size_t)R_SYM(r[i].r_info);
        if (kind == 0 || sym == 0)
            continue;                /* not an import slot (RELATIVE, IRELATIVE, ...) */
        if (sym > (UINTPTR_MAX - di->symtab) / sizeof(ElfW(Sym)) - 1)
            return -1;
        const ElfW(Sym) *s = (const ElfW(Sym) *)(di->symtab + sym * sizeof(ElfW(Sym)));
        uintptr_t slot = o->base + (uintptr_t)r[i].r_offset;
        if (!pf_elfgot_contains(o, (uintptr_t)s, sizeof *s, 0)
            || !pf_elfgot_contains(o, slot, sizeof(void *), 0) || slot % sizeof(void *) != 0
            || s->st_name >= di->strsz)
            return -1;
        if (s->st_shndx != SHN_UNDEF)
            continue;                /* the object's own definition: not an import */
        const char *name = (const char *)(di->strtab + s->st_name);
        if (memchr(name, '\0', di->strsz - s->st_name) == NULL)
            return -1;               /* runs past the string table */
        if (visit == NULL || name[0] == '\0')
            continue;
        pf_elfgot_reloc rel = { (void **)slot, name, kind, s->st_value != 0 };
        if (visit(ctx, &rel))
            return 1;
    }
    return 0;
}

int pf_elfgot_scan(const pf_elfgot_obj *o, int (*visit)(void *ctx, const pf_elfgot_reloc *r),
                   void *ctx)
{
    if (!PF_ELFGOT_SUPPORTED)
        return -1;
    const ElfW(Dyn) *d = dynamic_of(o);
    if (d == NULL)
        return 0;                    /* statically linked: nothing is imported */
    if (!pf_elfgot_contains(o, (uintptr_t)d, sizeof *d, 0))
        return -1;
    struct dyninfo di;
    read_dynamic(o, d, &di);
    int has_rel = di.rela != 0 || di.jmprel != 0;
    if (!has_rel)
        return 0;
    if (di.symtab == 0 || di.strtab == 0 || di.syment != sizeof(ElfW(Sym))
        || di.relaent != sizeof(ElfW(Rela)) || !pf_elfgot_contains(o, di.strtab, di.strsz, 0))
        return -1;
    /* DT_PLTREL says whether the PLT relocations are REL or RELA: only RELA is supported
     * (REL is i386's and ARM's). */
    uintptr_t jmprel = di.jmprel;
    if (jmprel != 0 && di.pltrel != DT_RELA)
        return -1;
    if (walk(o, &di, jmprel, di.relsz_plt, NULL, NULL) < 0
        || walk(o, &di, di.rela, di.relasz, NULL, NULL) < 0)
        return -1;
    if (visit == NULL)
        return 0;
    int r = walk(o, &di, jmprel, di.relsz_plt, visit, ctx);
    if (r == 0)
        r = walk(o, &di, di.rela, di.relasz, visit, ctx);
    return r < 0 ? -1 : 0;
}

int pf_elfgot_write(const pf_elfgot_obj *o, void **slot, void *value)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t s = (uintptr_t)slot;
    uintptr_t ro_lo = 0, ro_hi = 0;
    for (size_t i = 0; i < o->phnum; i++) {
        const ElfW(Phdr) *ph = &o->phdr[i];
        if (ph->p_type != PT_GNU_RELRO)
            continue;
        /* glibc's _dl_protect_relro: whole pages from the start's page to the page the
         * end falls in, that page excluded (it is shared with writable data). */
        uintptr_t lo = o->base + (uintptr_t)ph->p_vaddr;
        ro_lo = lo & ~(page - 1);
        ro_hi = (lo + (uintptr_t)ph->p_memsz) & ~(page - 1);
    }
    int relro = s >= ro_lo && s < ro_hi;
    void *pg = (void *)(s & ~(page - 1));
    if (relro && mprotect(pg, (size_t)page, PROT_READ | PROT_WRITE) < 0)
        return -1;
    __atomic_store_n(slot, value, __ATOMIC_RELEASE);
    if (relro) {
        int e = errno;
        mprotect(pg, (size_t)page, PROT_READ);   /* as the loader left it */
        errno = e;
    }
    return 0;
}

int pf_elfgot_has_search_path(const pf_elfgot_obj *o)
{
    const ElfW(Dyn) *d = dynamic_of(o);
    for (; d != NULL && d->d_tag != DT_NULL && pf_elfgot_contains(o, (uintptr_t)d, sizeof *d, 0);
         d++)
        if (d->d_tag == DT_RPATH || d->d_tag == DT_RUNPATH)
            return 1;
    return 0;
}
