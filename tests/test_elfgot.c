/* test_elfgot.c: unit tests of collector/elfgot.c: the import slots of this very test
 * binary (found, bound to the right functions, patched and restored, RELRO protection
 * put back), and synthetic objects for every relocation shape and every malformation
 * the scanner must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <elf.h>
#include <link.h>

#include "collector/elfgot.h"

/* ---- the test binary itself ---- */

#define MAXSLOTS 8

struct found {
    const char *want;
    void **slot[MAXSLOTS];
    int kind[MAXSLOTS];
    int n;
};

static int collect(void *ctx, const pf_elfgot_reloc *r)
{
    struct found *f = ctx;
    if (strcmp(r->name, f->want) == 0 && f->n < MAXSLOTS) {
        f->slot[f->n] = r->slot;
        f->kind[f->n] = r->kind;
        f->n++;
    }
    return 0;
}

static int first_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    pf_elfgot_from_phdr(data, info);
    return 1;                        /* the main program comes first */
}

static void main_program(pf_elfgot_obj *o)
{
    memset(o, 0, sizeof *o);
    dl_iterate_phdr(first_object, o);
    assert_non_null(o->phdr);
}

/* The slots of `want` in the main program (at least one expected). */
static void find_slots(const pf_elfgot_obj *o, const char *want, struct found *f)
{
    memset(f, 0, sizeof *f);
    f->want = want;
    assert_int_equal(pf_elfgot_scan(o, collect, f), 0);
}

static int stop_at_first(void *ctx, const pf_elfgot_reloc *r)
{
    (void)r;
    ++*(int *)ctx;
    return 1;
}

static void *volatile sink;
static void (*volatile free_ptr)(void *);   /* takes free's address: a GLOB_DAT slot */

static void test_elfgot_finds_this_binarys_imports_bound_to_the_real_functions(void **state)
{
    (void)state;
    sink = malloc(16);               /* bind the lazy PLT slots */
    free(sink);
    pf_elfgot_obj o;
    main_program(&o);
    const char *names[] = { "malloc", "free" };
    for (size_t k = 0; k < 2; k++) {
        struct found f;
        find_slots(&o, names[k], &f);
        assert_true(f.n >= 1);
        void *real = dlsym(RTLD_DEFAULT, names[k]);
        assert_non_null(real);
        for (int i = 0; i < f.n; i++) {
            void *v = *f.slot[i];
            /* bound to the real function, or still the object's own lazy PLT stub */
            assert_true(v == real || (f.kind[i] == PF_ELFGOT_PLT
                                      && pf_elfgot_contains(&o, (uintptr_t)v, 1, 1)));
            assert_true(pf_elfgot_contains(&o, (uintptr_t)f.slot[i], sizeof(void *), 0));
        }
    }
    /* Our own functions are definitions, never imports. */
    struct found f;
    find_slots(&o, "main", &f);
    assert_int_equal(f.n, 0);
    /* Stopping early. */
    int calls = 0;
    assert_int_equal(pf_elfgot_scan(&o, stop_at_first, &calls), 0);
    assert_int_equal(calls, 1);
}

static volatile int fake_calls;   /* volatile: the compiler assumes free() cannot touch it */
static void (*real_free)(void *);

static void fake_free(void *p)
{
    fake_calls++;
    real_free(p);
}

/* The protection of the page holding addr, from /proc/self/maps ("r--p", "rw-p"...). */
static void page_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[512];
    strcpy(perms, "????");
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 && (uintptr_t)addr >= lo
            && (uintptr_t)addr < hi) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
}

/* Overwriting every slot of free routes this binary's calls to free through the fake;
 * writing the old values back restores them; a slot in RELRO gets its read-only page
 * back. */
static void test_elfgot_write_patches_and_restores_calls(void **state)
{
    (void)state;
    free_ptr = free;
    real_free = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
    assert_non_null(real_free);
    pf_elfgot_obj o;
    main_program(&o);
    struct found f;
    find_slots(&o, "free", &f);
    assert_true(f.n >= 1);
    void *old[MAXSLOTS];
    char before[MAXSLOTS][5];
    for (int i = 0; i < f.n; i++) {
        old[i] = *f.slot[i];
        page_perms(f.slot[i], before[i]);
        assert_int_equal(pf_elfgot_write(&o, f.slot[i], (void *)fake_free), 0);
        char after[5];
        page_perms(f.slot[i], after);
        assert_string_equal(after, before[i]);    /* read-only stays read-only */
    }
    fake_calls = 0;
    sink = malloc(32);
    free(sink);                      /* through the PLT slot (or the GOT with -fno-plt) */
    assert_int_equal(fake_calls, 1);
    for (int i = 0; i < f.n; i++)
        assert_int_equal(pf_elfgot_write(&o, f.slot[i], old[i]), 0);
    sink = malloc(32);
    free(sink);
    assert_int_equal(fake_calls, 1);
    /* A GLOB_DAT slot (free's address was taken above) normally sits in RELRO. */
    int data = 0;
    for (int i = 0; i < f.n; i++)
        if (f.kind[i] == PF_ELFGOT_DATA) {
            data = 1;
            assert_int_equal(before[i][1], '-');  /* not writable: RELRO was applied */
        }
    if (!data)
        print_message("note: no GLOB_DAT slot for free in this build\n");
}

/* ---- synthetic objects ---- */

#if PF_ELFGOT_SUPPORTED
#if defined(__x86_64__)
#define T_JUMP_SLOT R_X86_64_JUMP_SLOT
#define T_GLOB_DAT R_X86_64_GLOB_DAT
#define T_ABS R_X86_64_64
#define T_RELATIVE R_X86_64_RELATIVE
#else
#define T_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define T_GLOB_DAT R_AARCH64_GLOB_DAT
#define T_ABS R_AARCH64_ABS64
#define T_RELATIVE R_AARCH64_RELATIVE
#endif

struct image {
    ElfW(Dyn) dyn[16];
    ElfW(Sym) sym[7];
    char str[48];
    ElfW(Rela) plt[3];
    ElfW(Rela) rela[3];
    void *got[8];
};

static struct image img;
static ElfW(Phdr) phdr[2];
static pf_elfgot_obj obj;

/* A well-formed object whose load bias is 0 (every "virtual address" is the real one):
 *   symbols: malloc (import), free (import with a canonical value), mine (defined),
 *            an empty name, calloc (import), one left unused;
 *   PLT relocations: JUMP_SLOT malloc -> got[0], JUMP_SLOT mine -> got[1] (a definition:
 *            skipped), RELATIVE -> got[2] (skipped);
 *   RELA: GLOB_DAT free -> got[3], GLOB_DAT calloc -> got[4], ABS64 malloc -> got[5]
 *            (data, not a slot: skipped). */
static void build(void)
{
    memset(&img, 0, sizeof img);
    const char strs[] = "\0malloc\0free\0mine\0calloc\0";
    memcpy(img.str, strs, sizeof strs);
    img.sym[1].st_name = 1;                       /* malloc */
    img.sym[2].st_name = 8;                       /* free, canonical */
    img.sym[2].st_value = 0x1234;
    img.sym[3].st_name = 13;                      /* mine, defined */
    img.sym[3].st_shndx = 7;
    img.sym[4].st_name = 0;                       /* "" */
    img.sym[5].st_name = 18;                      /* calloc */
    uintptr_t got = (uintptr_t)img.got;
    img.plt[0].r_offset = got;
    img.plt[0].r_info = ELF64_R_INFO(1, T_JUMP_SLOT);
    img.plt[1].r_offset = got + 8;
    img.plt[1].r_info = ELF64_R_INFO(3, T_JUMP_SLOT);
    img.plt[2].r_offset = got + 16;
    img.plt[2].r_info = ELF64_R_INFO(0, T_RELATIVE);
    img.rela[0].r_offset = got + 24;
    img.rela[0].r_info = ELF64_R_INFO(2, T_GLOB_DAT);
    img.rela[1].r_offset = got + 32;
    img.rela[1].r_info = ELF64_R_INFO(5, T_GLOB_DAT);
    img.rela[2].r_offset = got + 40;
    img.rela[2].r_info = ELF64_R_INFO(1, T_ABS);
    ElfW(Dyn) *d = img.dyn;
    d->d_tag = DT_JMPREL;   (d++)->d_un.d_ptr = (uintptr_t)img.plt;
    d->d_tag = DT_PLTRELSZ; (d++)->d_un.d_val = sizeof img.plt;
    d->d_tag = DT_PLTREL;   (d++)->d_un.d_val = DT_RELA;
    d->d_tag = DT_RELA;     (d++)->d_un.d_ptr = (uintptr_t)img.rela;
    d->d_tag = DT_RELASZ;   (d++)->d_un.d_val = sizeof img.rela;
    d->d_tag = DT_RELAENT;  (d++)->d_un.d_val = sizeof(ElfW(Rela));
    d->d_tag = DT_SYMTAB;   (d++)->d_un.d_ptr = (uintptr_t)img.sym;
    d->d_tag = DT_SYMENT;   (d++)->d_un.d_val = sizeof(ElfW(Sym));
    d->d_tag = DT_STRTAB;   (d++)->d_un.d_ptr = (uintptr_t)img.str;
    d->d_tag = DT_STRSZ;    (d++)->d_un.d_val = sizeof img.str;
    d->d_tag = DT_NULL;
    memset(phdr, 0, sizeof phdr);
    phdr[0].p_type = PT_LOAD;
    phdr[0].p_vaddr = (uintptr_t)&img;
    phdr[0].p_memsz = sizeof img;
    phdr[0].p_flags = PF_R | PF_W;
    phdr[1].p_type = PT_DYNAMIC;
    phdr[1].p_vaddr = (uintptr_t)img.dyn;
    phdr[1].p_memsz = sizeof img.dyn;
    obj.base = 0;
    obj.phdr = phdr;
    obj.phnum = 2;
    obj.name = "synthetic";
}

struct seen {
    const char *name[8];
    void **slot[8];
    int kind[8], canonical[8];
    int n;
};

static int record(void *ctx, const pf_elfgot_reloc *r)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    s->name[s->n] = r->name;
    s->slot[s->n] = r->slot;
    s->kind[s->n] = r->kind;
    s->canonical[s->n] = r->canonical;
    s->n++;
    return 0;
}

static void test_elfgot_synthetic_object_visits_exactly_the_import_slots(void **state)
{
    (void)state;
    build();
    struct seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(pf_elfgot_scan(&obj, record, &s), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.name[0], "malloc");
    assert_ptr_equal(s.slot[0], &img.got[0]);
    assert_int_equal(s.kind[0], PF_ELFGOT_PLT);
    assert_int_equal(s.canonical[0], 0);
    assert_string_equal(s.name[1], "free");
    assert_ptr_equal(s.slot[1], &img.got[3]);
    assert_int_equal(s.kind[1], PF_ELFGOT_DATA);
    assert_int_equal(s.canonical[1], 1);
    assert_string_equal(s.name[2], "calloc");
    assert_ptr_equal(s.slot[2], &img.got[4]);
    assert_int_equal(s.kind[2], PF_ELFGOT_DATA);
    assert_int_equal(pf_elfgot_has_search_path(&obj), 0);
    /* Writing a slot outside RELRO is a plain store. */
    assert_int_equal(pf_elfgot_write(&obj, &img.got[0], (void *)&obj), 0);
    assert_ptr_equal(img.got[0], &obj);
    /* With DT_RUNPATH. */
    img.dyn[10].d_tag = DT_RUNPATH;
    img.dyn[11].d_tag = DT_NULL;
    assert_int_equal(pf_elfgot_has_search_path(&obj), 1);
    /* No dynamic section: nothing imported, not an error. */
    obj.phnum = 1;
    memset(&s, 0, sizeof s);
    assert_int_equal(pf_elfgot_scan(&obj, record, &s), 0);
    assert_int_equal(s.n, 0);
}

/* Each malformation is refused before anything is visited. */
static void test_elfgot_refuses_malformed_objects_whole(void **state)
{
    (void)state;
    for (int c = 0; c < 9; c++) {
        build();
        switch (c) {
        case 0: img.rela[1].r_info = ELF64_R_INFO(100000, T_GLOB_DAT); break;  /* symbol outside */
        case 1: img.sym[5].st_name = sizeof img.str; break;                   /* name outside */
        case 2: img.rela[1].r_offset = (uintptr_t)&img + sizeof img; break;   /* slot outside */
        case 3: img.dyn[5].d_un.d_val = 16; break;                            /* RELAENT */
        case 4: img.dyn[2].d_un.d_val = DT_REL; break;                        /* REL PLT */
        case 5: img.dyn[4].d_un.d_val = sizeof img.rela - 1; break;           /* size */
        case 6: img.dyn[0].d_un.d_ptr = (uintptr_t)&img + sizeof img - 8; break; /* table outside */
        case 7: memset(img.str + 18, 'x', sizeof img.str - 18); break;        /* no NUL */
        case 8: img.rela[1].r_offset += 1; break;                             /* misaligned */
        }
        struct seen s;
        memset(&s, 0, sizeof s);
        assert_int_equal(pf_elfgot_scan(&obj, record, &s), -1);
        assert_int_equal(s.n, 0);
    }
}

/* Tables may span adjacent segments (patchelf'd executables: the string table grown
 * into a segment of its own right before the first one), never a gap between them. */
static void test_elfgot_tables_may_span_adjacent_segments(void **state)
{
    (void)state;
    build();
    static ElfW(Phdr) split[3];
    uintptr_t cut = (uintptr_t)img.str + 8;      /* the string table straddles the cut */
    memset(split, 0, sizeof split);
    split[0].p_type = PT_LOAD;
    split[0].p_vaddr = (uintptr_t)&img;
    split[0].p_memsz = cut - (uintptr_t)&img;
    split[1].p_type = PT_LOAD;
    split[1].p_vaddr = cut;
    split[1].p_memsz = (uintptr_t)&img + sizeof img - cut;
    split[2] = phdr[1];                          /* PT_DYNAMIC */
    obj.phdr = split;
    obj.phnum = 3;
    struct seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(pf_elfgot_scan(&obj, record, &s), 0);
    assert_int_equal(s.n, 3);
    assert_true(pf_elfgot_contains(&obj, (uintptr_t)&img, sizeof img, 0));
    assert_false(pf_elfgot_contains(&obj, (uintptr_t)&img, sizeof img + 1, 0));
    /* a one-byte hole at the cut: the string table is no longer inside */
    split[1].p_vaddr = cut + 1;
    split[1].p_memsz -= 1;
    memset(&s, 0, sizeof s);
    assert_int_equal(pf_elfgot_scan(&obj, record, &s), -1);
    assert_int_equal(s.n, 0);
    assert_false(pf_elfgot_contains(&obj, cut - 1, 2, 0));
    assert_true(pf_elfgot_contains(&obj, cut + 1, 2, 0));
}

/* Unrelocated dynamic-section pointers (a loader that does not rebase them in place)
 * are rebased by the load bias. */
static void test_elfgot_rebases_unrelocated_pointers(void **state)
{
    (void)state;
    build();
    uintptr_t bias = (uintptr_t)&img - 0x1000;   /* pretend the image was linked at 0x1000 */
    obj.base = bias;
    phdr[0].p_vaddr = 0x1000;
    phdr[1].p_vaddr = (uintptr_t)img.dyn - bias;
    img.dyn[0].d_un.d_ptr -= bias;               /* DT_JMPREL as a virtual address */
    img.dyn[6].d_un.d_ptr -= bias;               /* DT_SYMTAB */
    for (int i = 0; i < 3; i++) {
        img.plt[i].r_offset -= bias;
        img.rela[i].r_offset -= bias;
    }
    img.dyn[3].d_un.d_ptr -= bias;               /* DT_RELA */
    img.dyn[8].d_un.d_ptr -= bias;               /* DT_STRTAB */
    struct seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(pf_elfgot_scan(&obj, record, &s), 0);
    assert_int_equal(s.n, 3);
    assert_ptr_equal(s.slot[0], &img.got[0]);
    assert_ptr_equal(s.slot[2], &img.got[4]);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elfgot_finds_this_binarys_imports_bound_to_the_real_functions),
        cmocka_unit_test(test_elfgot_write_patches_and_restores_calls),
#if PF_ELFGOT_SUPPORTED
        cmocka_unit_test(test_elfgot_synthetic_object_visits_exactly_the_import_slots),
        cmocka_unit_test(test_elfgot_refuses_malformed_objects_whole),
        cmocka_unit_test(test_elfgot_rebases_unrelocated_pointers),
        cmocka_unit_test(test_elfgot_tables_may_span_adjacent_segments),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
