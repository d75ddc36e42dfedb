/* paths.h: where the CLI finds things installed next to it (the collector package).
 * Two layouts are supported: the build tree (BUILD/pyflame-c with BUILD/python/pyflame/)
 * and an installed prefix (PREFIX/bin/pyflame-c with PREFIX/lib/pyflame-c/python/pyflame/). */
#ifndef PF_CLI_PATHS_H
#define PF_CLI_PATHS_H

#include <stddef.h>

/* Finds the folder of the `pyflame` Python package (the one holding __init__.py and the
 * _collector extensions), relative to the running binary (/proc/self/exe), or
 * $PYFLAME_C_PACKAGE if set.  Returns a malloc'd absolute path the caller frees, or NULL;
 * then `looked` (if not NULL) gets the places searched, for the error message. */
char *pf_cli_package_dir(char *looked, size_t looked_size);

/* Makes path absolute against the current directory.  malloc'd, or NULL (OOM or no cwd). */
char *pf_cli_absolute(const char *path);

#endif
