/* procmem.h: reading another process's memory without stopping it (process_vm_readv),
 * writing a few bytes of it (process_vm_writev, for cli/inject.h), finding a symbol of
 * the program or libraries it has mapped (ELF symbol tables of the files in
 * /proc/PID/maps), and saying what permission is missing when the kernel
 * refuses.  Linux only. */
#ifndef PF_CLI_PROCMEM_H
#define PF_CLI_PROCMEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "formats/error.h"

/* Copies n bytes at addr in pid into buf.  0, or -1 with errno (ESRCH: the process is
 * gone; EFAULT: not mapped, e.g. a torn pointer; EPERM: not allowed). */
int pf_procmem_read(pid_t pid, uint64_t addr, void *buf, size_t n);

/* Copies n1 bytes at addr1 into buf1, then n2 at addr2 into buf2, in one system call,
 * so the two are as close to one moment as the kernel can make them.  0 when both were
 * read, 1 when only the first, -1 (errno as above) when not even the first. */
int pf_procmem_read2(pid_t pid, uint64_t addr1, void *buf1, size_t n1, uint64_t addr2,
                     void *buf2, size_t n2);

/* Copies n bytes from buf to addr in pid (process_vm_writev: the process is not
 * stopped; a write is not atomic against the process's own stores, so callers write the
 * smallest field they can).  0, or -1 with errno as for pf_procmem_read. */
int pf_procmem_write(pid_t pid, uint64_t addr, const void *buf, size_t n);

/* Reads a pointer-sized word.  0 or -1 as above. */
int pf_procmem_word(pid_t pid, uint64_t addr, uint64_t *out);

/* The address of symbol name in pid, looked up in the symbol tables (.symtab, then
 * .dynsym) of every mapped file whose name contains `match` ("python"), or 0 with err
 * set (PF_EIO: the process or its maps cannot be read; PF_EPARSE: no such symbol).
 * When found and file is not NULL, file gets the mapped file's path (cap bytes). */
uint64_t pf_procmem_symbol(pid_t pid, const char *match, const char *name, char *file,
                           size_t cap, pf_error *err);

/* Sets err to what an EPERM/EACCES on reading pid's memory needs, in words: root,
 * CAP_SYS_PTRACE, or a lower kernel.yama.ptrace_scope (read from /proc), with the
 * current value.  Returns -1. */
int pf_procmem_explain_denied(pid_t pid, pf_error *err);

#endif
