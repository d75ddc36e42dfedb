/* common.c: shared pieces of the reading subcommands (see common.h). */
#include "cli/common.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *pf_cli_input_name(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int pf_cli_fail(const char *file, const pf_error *err)
{
    fprintf(stderr, "pyflame-c: %s: %s\n", pf_cli_input_name(file),
            err->msg[0] ? err->msg : pf_error_text(err->code));
    return err->code == PF_EUSAGE ? 2 : 1;
}

pf_trace *pf_cli_read_trace(const char *path, pf_error *err)
{
    pf_trace *t = pf_trace_read(path, err);
    if (t != NULL && (t->meta.flags & PF_FLAG_OUT_OF_MEMORY))
        fprintf(stderr, "pyflame-c: warning: %s: the collector ran out of memory while "
                "recording; the profile is incomplete\n", pf_cli_input_name(path));
    return t;
}

int pf_cli_output_is_input(const char *cmd, const char *input, const char *output)
{
    struct stat in_st, out_st;
    if (output == NULL || input == NULL || strcmp(input, "-") == 0 ||
        stat(input, &in_st) != 0 || stat(output, &out_st) != 0 ||
        in_st.st_dev != out_st.st_dev || in_st.st_ino != out_st.st_ino)
        return 0;
    fprintf(stderr, "pyflame-c %s: refusing to overwrite the input '%s'\n", cmd, output);
    return 1;
}
