/* procmem.c: another process's memory and symbols (see procmem.h). */
#include "cli/procmem.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int pf_procmem_read(pid_t pid, uint64_t addr, void *buf, size_t n)
{
    struct iovec local = { buf, n };
    struct iovec remote = { (void *)(uintptr_t)addr, n };
    ssize_t r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (r == (ssize_t)n)
        return 0;
    if (r >= 0)
        errno = EFAULT;               /* a partial read: the rest is not mapped */
    return -1;
}

int pf_procmem_read2(pid_t pid, uint64_t addr1, void *buf1, size_t n1, uint64_t addr2,
                     void *buf2, size_t n2)
{
    struct iovec local[2] = { { buf1, n1 }, { buf2, n2 } };
    struct iovec remote[2] = { { (void *)(uintptr_t)addr1, n1 }, { (void *)(uintptr_t)addr2, n2 } };
    ssize_t r = process_vm_readv(pid, local, 2, remote, 2, 0);
    if (r == (ssize_t)(n1 + n2))
        return 0;
    if (r >= (ssize_t)n1)
        return 1;
    if (r >= 0)
        errno = EFAULT;
    return -1;
}

int pf_procmem_write(pid_t pid, uint64_t addr, const void *buf, size_t n)
{
    struct iovec local = { (void *)(uintptr_t)buf, n };      /* only read from */
    struct iovec remote = { (void *)(uintptr_t)addr, n };
    ssize_t r = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (r == (ssize_t)n)
        return 0;
    if (r >= 0)
        errno = EFAULT;
    return -1;
}

int pf_procmem_word(pid_t pid, uint64_t addr, uint64_t *out)
{
    uint64_t v = 0;
    if (pf_procmem_read(pid, addr, &v, sizeof(void *)) < 0)
        return -1;
    *out = v;
    return 0;
}

/* The whole of a file, mapped read-only; *len its size.  NULL on failure. */
static const unsigned char *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *p = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(Elf64_Ehdr))
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return NULL;
    *len = (size_t)st.st_size;
    return p;
}

/* st_value of name in an ELF64 image (symtab first, then dynsym), the image's first
 * PT_LOAD address (page-aligned) in *load, and whether it is a fixed-address executable
 * in *fixed.  0 when absent.  Every offset is checked against len. */
static uint64_t elf_symbol(const unsigned char *img, size_t len, const char *name,
                           uint64_t *load, int *fixed)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
        return 0;
    *fixed = eh->e_type == ET_EXEC;
    *load = 0;
    if (eh->e_phoff < len && eh->e_phnum < 4096
        && eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) <= len) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
        for (unsigned i = 0; i < eh->e_phnum; i++)
            if (ph[i].p_type == PT_LOAD) {
                *load = ph[i].p_vaddr & ~(uint64_t)0xfff;
                break;
            }
    }
    if (eh->e_shoff >= len || eh->e_shnum == 0
        || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
        return 0;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
    size_t nlen = strlen(name);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;
        for (unsigned i = 0; i < eh->e_shnum; i++) {
            if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum)
                continue;
            const Elf64_Shdr *strs = &sh[sh[i].sh_link];
            if (sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset
                || strs->sh_offset > len || strs->sh_size > len - strs->sh_offset)
                continue;
            const Elf64_Sym *sym = (const Elf64_Sym *)(img + sh[i].sh_offset);
            size_t n = sh[i].sh_size / sizeof *sym;
            const char *str = (const char *)img + strs->sh_offset;
            for (size_t k = 0; k < n; k++) {
                if (sym[k].st_name >= strs->sh_size || sym[k].st_value == 0
                    || sym[k].st_shndx == SHN_UNDEF)
                    continue;
                if (strs->sh_size - sym[k].st_name > nlen
                    && memcmp(str + sym[k].st_name, name, nlen + 1) == 0)
                    return sym[k].st_value;
            }
        }
    }
    return 0;
}

uint64_t pf_procmem_symbol(pid_t pid, const char *match, const char *name, char *file,
                           size_t cap, pf_error *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == EACCES || errno == EPERM)
            pf_procmem_explain_denied(pid, err);
        else
            pf_error_set(err, PF_EIO, "cannot read /proc/%d/maps: %s", (int)pid, strerror(errno));
        return 0;
    }
    char line[4608], seen[4096] = "";
    uint64_t found = 0;
    while (found == 0 && fgets(line, sizeof line, f) != NULL) {
        unsigned long long start, end, off;
        char perms[8];
        int pos = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pos) < 4
            || pos == 0)
            continue;
        char *obj = line + pos;
        obj[strcspn(obj, "\n")] = 0;
        const char *base = strrchr(obj, '/');
        if (obj[0] != '/' || off != 0 || base == NULL || strstr(base, match) == NULL
            || strcmp(obj, seen) == 0)
            continue;
        snprintf(seen, sizeof seen, "%s", obj);
        /* through the target's root, so that a process in a container is found too */
        char rooted[4700];
        snprintf(rooted, sizeof rooted, "/proc/%d/root%s", (int)pid, obj);
        size_t len = 0;
        const unsigned char *img = map_file(rooted, &len);
        if (img == NULL)
            img = map_file(obj, &len);
        if (img == NULL)
            continue;
        uint64_t load = 0;
        int fixed = 0;
        uint64_t v = elf_symbol(img, len, name, &load, &fixed);
        munmap((void *)img, len);
        if (v != 0) {
            found = fixed ? v : start + (v - load);
            if (file != NULL && cap > 0)
                snprintf(file, cap, "%s", obj);
        }
    }
    fclose(f);
    if (found == 0)
        pf_error_set(err, PF_EPARSE, "no symbol %s in the files of process %d whose name "
                     "contains '%s'", name, (int)pid, match);
    return found;
}

int pf_procmem_explain_denied(pid_t pid, pf_error *err)
{
    int scope = -1;
    FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
    if (f != NULL) {
        if (fscanf(f, "%d", &scope) != 1)
            scope = -1;
        fclose(f);
    }
    char yama[200] = "";
    if (scope >= 1)
        snprintf(yama, sizeof yama, "; kernel.yama.ptrace_scope is %d, %s", scope,
                 scope == 1 ? "so only a parent may read a process: run as root, or "
                              "`sysctl kernel.yama.ptrace_scope=0`"
                 : scope == 2 ? "so only CAP_SYS_PTRACE may: run as root"
                              : "which forbids it to everyone until reboot");
    return pf_error_set(err, PF_EIO, "not allowed to read the memory of process %d: this "
                        "needs the same user as the process (and a process that is not "
                        "setuid), root, or the CAP_SYS_PTRACE capability (e.g. `sudo "
                        "pyflame-c attach %d`, or `setcap cap_sys_ptrace+ep` on "
                        "pyflame-c)%s", (int)pid, (int)pid, yama);
}
