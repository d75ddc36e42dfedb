/* paths.c: locating the collector package relative to the pyflame-c binary. */
#include "cli/paths.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int has_package(const char *dir)
{
    char f[PATH_MAX];
    if ((size_t)snprintf(f, sizeof f, "%s/__init__.py", dir) >= sizeof f)
        return 0;
    return access(f, R_OK) == 0;
}

char *pf_cli_package_dir(char *looked, size_t looked_size)
{
    const char *env = getenv("PYFLAME_C_PACKAGE");
    if (env != NULL && *env) {
        if (has_package(env))
            return realpath(env, NULL);
        if (looked)
            snprintf(looked, looked_size, "%s ($PYFLAME_C_PACKAGE)", env);
        return NULL;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        if (looked)
            snprintf(looked, looked_size, "(cannot read /proc/self/exe)");
        return NULL;
    }
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = 0;
    static const char *const rel[] = { "python/pyflame", "../lib/pyflame-c/python/pyflame" };
    if (looked)
        looked[0] = 0;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", exe, rel[i]) >= sizeof dir)
            continue;
        if (has_package(dir))
            return realpath(dir, NULL);
        if (looked) {
            size_t used = strlen(looked);
            snprintf(looked + used, looked_size - used, "%s%s", used ? ", " : "", dir);
        }
    }
    return NULL;
}

char *pf_cli_absolute(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return NULL;
    size_t len = strlen(cwd) + strlen(path) + 2;
    char *out = malloc(len);
    if (out != NULL)
        snprintf(out, len, "%s/%s", cwd, path);
    free(cwd);
    return out;
}
