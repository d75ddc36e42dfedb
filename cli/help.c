/* help.c: --help, the man page and the shell completions, printed from the command
 * descriptions (see help.h).
 *
 * Each output walks the same data: a command's synopsis, description, option table
 * (headings start a group), epilogue.  --help fills paragraphs itself (80 columns,
 * option texts from column 25); the man page leaves filling to groff and marks breaks,
 * preformatted blocks and headings with man macros; the completion scripts take the
 * option names, which ones take a value, and how a value completes. */
#include "cli/help.h"

#include <string.h>

#define WIDTH 80           /* --help fills lines up to this many columns */
#define OPT_COL 25         /* where an option's text starts */

const pf_command *pf_command_find(const char *name)
{
    for (size_t i = 0; i < pf_ncommands; i++)
        if (strcmp(pf_commands[i]->name, name) == 0)
            return pf_commands[i];
    return NULL;
}

/* ---- --help ---- */

static int pad(FILE *out, int col, int to)
{
    for (; col < to; col++)
        fputc(' ', out);
    return col;
}

/* Columns a UTF-8 string of n bytes takes (one per character). */
static int width_of(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xc0) != 0x80;
    return w;
}

/* Prints text (help.h's format) filled to WIDTH, every line indented by indent; the
 * cursor is at column col of a line that holds nothing but padding yet. */
static void put_text(FILE *out, const char *text, int indent, int col)
{
    for (const char *p = text;;) {
        size_t n = strcspn(p, "\n");
        if (n == 0) {
            fputc('\n', out);
            col = 0;
        } else if (p[0] == ' ') {
            pad(out, col, indent);
            fwrite(p, 1, n, out);
            fputc('\n', out);
            col = 0;
        } else {
            int words = 0;
            for (const char *w = p, *end = p + n; w < end;) {
                while (w < end && *w == ' ')
                    w++;
                const char *we = w;
                while (we < end && *we != ' ')
                    we++;
                if (we == w)
                    break;
                int len = width_of(w, (size_t)(we - w));
                if (words && col + 1 + len > WIDTH) {
                    fputc('\n', out);
                    col = words = 0;
                }
                if (words) {
                    fputc(' ', out);
                    col++;
                } else {
                    col = pad(out, col, indent);
                }
                fwrite(w, 1, (size_t)(we - w), out);
                col += len;
                words = 1;
                w = we;
            }
            fputc('\n', out);
            col = 0;
        }
        if (p[n] == '\0')
            return;
        p += n + 1;
    }
}

/* "-o, --output FILE", "--memory[=all|python]", "--lines" into buf. */
static void spelling(const pf_opt *o, char *buf, size_t cap)
{
    size_t n = 0;
    if (o->short_name)
        n += (size_t)snprintf(buf, cap, "-%c, ", o->short_name);
    if (n < cap)
        n += (size_t)snprintf(buf + n, cap - n, "--%s", o->name);
    if (n < cap && o->kind == PF_OPT_VALUE)
        snprintf(buf + n, cap - n, " %s", o->arg ? o->arg : "VALUE");
    else if (n < cap && o->kind == PF_OPT_OPTIONAL)
        snprintf(buf + n, cap - n, "[=%s]", o->arg ? o->arg : "VALUE");
}

static void put_options(const pf_command *cmd, FILE *out)
{
    if (cmd->nopts > 0 && cmd->opts[0].name != NULL)
        fputs("\nOptions:\n", out);
    for (size_t i = 0; i < cmd->nopts; i++) {
        const pf_opt *o = &cmd->opts[i];
        if (o->name == NULL) {
            fprintf(out, "\n%s:\n", o->help);
            continue;
        }
        char left[128];
        spelling(o, left, sizeof left);
        fprintf(out, "  %s", left);
        int col = 2 + width_of(left, strlen(left));
        if (col > OPT_COL - 2) {
            fputc('\n', out);
            col = 0;
        }
        put_text(out, o->help ? o->help : "", OPT_COL, col);
    }
}

void pf_help_print(const pf_command *cmd, FILE *out)
{
    const char *s = cmd->synopsis;
    for (int first = 1; *s; first = 0) {
        size_t n = strcspn(s, "\n");
        fprintf(out, "%s%.*s\n", first ? "usage: " : "       ", (int)n, s);
        s += n + (s[n] != '\0');
    }
    if (cmd->description) {
        fputc('\n', out);
        put_text(out, cmd->description, 0, 0);
    }
    if (cmd == &pf_main_command) {
        fputs("\nCommands:\n", out);
        for (size_t i = 0; i < pf_ncommands; i++)
            fprintf(out, "  %-9s %s\n", pf_commands[i]->name, pf_commands[i]->summary);
    }
    put_options(cmd, out);
    if (cmd->epilogue) {
        fputc('\n', out);
        put_text(out, cmd->epilogue, 0, 0);
    }
}

/* ---- the man page ---- */

/* Writes n bytes of s escaped for roff: backslashes, minus signs (so that "--lines"
 * stays searchable and copyable), and a control character at the start of a line. */
static void roff(FILE *out, const char *s, size_t n, int line_start)
{
    if (line_start && n > 0 && (s[0] == '.' || s[0] == '\''))
        fputs("\\&", out);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\')
            fputs("\\e", out);
        else if (s[i] == '-')
            fputs("\\-", out);
        else
            fputc(s[i], out);
    }
}

static void roff_str(FILE *out, const char *s, int line_start)
{
    roff(out, s, strlen(s), line_start);
}

/* A paragraph of one line that ends with ':' (a heading), at p (n bytes)? */
static int is_heading(const char *text, const char *p, size_t n)
{
    return n > 1 && p[0] != ' ' && p[n - 1] == ':' && (p == text || p[-1] == '\n') &&
           (p == text || p - 1 == text || p[-2] == '\n') && (p[n] == '\0' || p[n + 1] == '\n');
}

/* Text (help.h's format) as man macros.  para starts a new paragraph (".PP" at the
 * top, ".IP" inside an option, keeping its indent); headings become .SS at the top
 * (heading_ss) and bold lines inside an option. */
static void man_text(FILE *out, const char *text, const char *para, int heading_ss)
{
    int pre = 0, lines = 0;       /* in a .nf block; lines of the paragraph so far */
    for (const char *p = text;;) {
        size_t n = strcspn(p, "\n");
        if (n == 0) {
            if (pre)
                fputs(".fi\n", out);
            pre = lines = 0;
            fprintf(out, "%s\n", para);
        } else if (p[0] == ' ') {
            if (!pre)
                fputs(".nf\n", out);
            pre = 1;
            roff(out, p, n, 1);
            fputc('\n', out);
        } else if (is_heading(text, p, n)) {
            if (pre)
                fputs(".fi\n", out);
            pre = lines = 0;
            fputs(heading_ss ? ".SS \"" : ".B \"", out);
            roff(out, p, heading_ss ? n - 1 : n, 0);
            fputs("\"\n", out);
            if (p[n] != '\0')
                p++;              /* the blank line after it: the heading starts the paragraph */
        } else {
            if (pre)
                fputs(".fi\n", out);
            else if (lines > 0)
                fputs(".br\n", out);
            pre = 0;
            lines++;
            roff(out, p, n, 1);
            fputc('\n', out);
        }
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    if (pre)
        fputs(".fi\n", out);
}

static void man_option(FILE *out, const pf_opt *o)
{
    fputs(".TP\n", out);
    if (o->short_name)
        fprintf(out, "\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB\\-\\-", out);
    roff_str(out, o->name, 0);
    fputs("\\fR", out);
    if (o->kind == PF_OPT_VALUE) {
        fputs(" \\fI", out);
        roff_str(out, o->arg ? o->arg : "VALUE", 0);
        fputs("\\fR", out);
    } else if (o->kind == PF_OPT_OPTIONAL) {
        fputs("[=\\fI", out);
        roff_str(out, o->arg ? o->arg : "VALUE", 0);
        fputs("\\fR]", out);
    }
    fputc('\n', out);
    man_text(out, o->help ? o->help : "", ".IP", 0);
}

static void man_options(FILE *out, const pf_command *cmd, const char *first_heading)
{
    if (cmd->nopts > 0 && cmd->opts[0].name != NULL)
        fprintf(out, "%s\n", first_heading);
    for (size_t i = 0; i < cmd->nopts; i++) {
        if (cmd->opts[i].name == NULL) {
            fputs(".SS \"", out);
            roff_str(out, cmd->opts[i].help, 0);
            fputs("\"\n", out);
        } else {
            man_option(out, &cmd->opts[i]);
        }
    }
}

static void man_synopsis(FILE *out, const pf_command *cmd)
{
    fputs(".nf\n", out);
    for (const char *s = cmd->synopsis; *s;) {
        size_t n = strcspn(s, "\n");
        /* "pyflame-c NAME" in bold, the rest as it is */
        size_t bold = strlen("pyflame-c");
        if (cmd->run != NULL)
            bold += 1 + strlen(cmd->name);
        if (bold > n)
            bold = n;
        fputs("\\fB", out);
        roff(out, s, bold, 0);
        fputs("\\fR", out);
        roff(out, s + bold, n - bold, 0);
        fputc('\n', out);
        s += n + (s[n] != '\0');
    }
    fputs(".fi\n", out);
}

void pf_help_man(FILE *out)
{
    const pf_command *m = &pf_main_command;
    fputs(".\\\" pyflame-c(1).  Generated by `pyflame-c --man` from the command descriptions\n"
          ".\\\" of cli/ (the tables --help and the option parser use); do not edit.\n", out);
    fputs(".TH PYFLAME\\-C 1 \"\" \"pyflame\\-c " PF_VERSION "\" \"User Commands\"\n", out);
    fputs(".nh\n.ad l\n.SH NAME\npyflame\\-c \\- ", out);
    roff_str(out, m->summary, 0);
    fputs("\n.SH SYNOPSIS\n", out);
    man_synopsis(out, m);
    for (size_t i = 0; i < pf_ncommands; i++)
        man_synopsis(out, pf_commands[i]);
    fputs(".SH DESCRIPTION\n", out);
    man_text(out, m->description, ".PP", 1);
    fputs(".PP\nCommands (each has a section below):\n", out);
    for (size_t i = 0; i < pf_ncommands; i++) {
        fputs(".TP\n.B ", out);
        roff_str(out, pf_commands[i]->name, 0);
        fputc('\n', out);
        roff_str(out, pf_commands[i]->summary, 1);
        fputc('\n', out);
    }
    man_options(out, m, ".SH OPTIONS");
    if (m->epilogue) {
        fputs(".PP\n", out);
        man_text(out, m->epilogue, ".PP", 1);
    }
    for (size_t i = 0; i < pf_ncommands; i++) {
        const pf_command *c = pf_commands[i];
        fputs(".SH \"PYFLAME\\-C ", out);
        for (const char *s = c->name; *s; s++)
            fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, out);
        fputs("\"\n", out);
        man_synopsis(out, c);
        fputs(".PP\n", out);
        man_text(out, c->description, ".PP", 1);
        man_options(out, c, ".SS Options");
        if (c->epilogue) {
            fputs(".PP\n", out);
            man_text(out, c->epilogue, ".PP", 1);
        }
    }
    for (size_t i = 0; i < pf_nman_sections; i++) {
        fputs(".SH \"", out);
        roff_str(out, pf_man_sections[i].title, 0);
        fputs("\"\n", out);
        man_text(out, pf_man_sections[i].text, ".PP", 1);
    }
}

/* ---- completion scripts ---- */

/* The option table of every command, main first. */
static const pf_command *command_at(size_t i)
{
    return i == 0 ? &pf_main_command : pf_commands[i - 1];
}

/* Prints the long and short spellings of o as shell words: "--output -o". */
static void put_names(FILE *out, const pf_opt *o, const char *sep)
{
    fprintf(out, "--%s", o->name);
    if (o->short_name)
        fprintf(out, "%s-%c", sep, o->short_name);
}

/* bash: `case "$cmd $opt"` arms completing each value.  "--opt=" is the value typed
 * after '=' (the only way a PF_OPT_OPTIONAL value is given), "--opt" the next word. */
static void bash_value_arms(FILE *out)
{
    for (size_t c = 0; c <= pf_ncommands; c++) {
        const pf_command *cmd = command_at(c);
        const char *cname = c == 0 ? "" : cmd->name;
        for (size_t i = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL || o->kind == PF_OPT_FLAG)
                continue;
            fprintf(out, "    \"%s --%s=\"", cname, o->name);
            if (o->kind == PF_OPT_VALUE) {
                fprintf(out, "|\"%s --%s\"", cname, o->name);
                if (o->short_name)
                    fprintf(out, "|\"%s -%c\"", cname, o->short_name);
            }
            fputs(")\n        ", out);
            if (o->complete == NULL)
                fputs(":", out);                      /* free text: nothing to offer */
            else if (strcmp(o->complete, "@file") == 0)
                fputs("_pyflame_c_files \"$cur\"", out);
            else if (strcmp(o->complete, "@command") == 0)
                fputs("COMPREPLY=($(compgen -c -- \"$cur\"))", out);
            else
                fprintf(out, "COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))", o->complete);
            fputs(" ;;\n", out);
        }
    }
}

static void bash_script(FILE *out)
{
    fputs("# bash completion for pyflame-c(1).  Generated by `pyflame-c --completion bash`\n"
          "# from the option tables the command line parses with; do not edit.\n"
          "# Use: source it, or install it as\n"
          "# /usr/share/bash-completion/completions/pyflame-c (make install does).\n"
          "\n"
          "_pyflame_c_files() {\n"
          "    local IFS=$'\\n'\n"
          "    compopt -o filenames 2>/dev/null\n"
          "    COMPREPLY+=($(compgen -f -- \"$1\"))\n"
          "}\n"
          "\n"
          "# _pyflame_c_value CMD OPT: completes OPT's value (\"--opt=\" when given after '=');\n"
          "# returns 1 when OPT takes no value.\n"
          "_pyflame_c_value() {\n"
          "    case \"$1 $2\" in\n", out);
    bash_value_arms(out);
    fputs("    *) return 1 ;;\n"
          "    esac\n"
          "    return 0\n"
          "}\n"
          "\n"
          "# Options that take the next word as their value, per command (\" main\" before it).\n"
          "_pyflame_c_valued() {\n"
          "    case $1 in\n", out);
    for (size_t c = 0; c <= pf_ncommands; c++) {
        const pf_command *cmd = command_at(c);
        fprintf(out, "    %s) echo \"", c == 0 ? "''" : cmd->name);
        for (size_t i = 0, k = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL || o->kind != PF_OPT_VALUE)
                continue;
            fputs(k++ ? " " : "", out);
            put_names(out, o, " ");
        }
        fputs("\" ;;\n", out);
    }
    fputs("    esac\n"
          "}\n"
          "\n"
          "_pyflame_c_options() {\n"
          "    case $1 in\n", out);
    for (size_t c = 0; c <= pf_ncommands; c++) {
        const pf_command *cmd = command_at(c);
        fprintf(out, "    %s) echo \"", c == 0 ? "''" : cmd->name);
        for (size_t i = 0, k = 0; i < cmd->nopts; i++) {
            const pf_opt *o = &cmd->opts[i];
            if (o->name == NULL)
                continue;
            fprintf(out, "%s--%s%s", k++ ? " " : "", o->name,
                    o->kind == PF_OPT_OPTIONAL ? " --" : "");
            if (o->kind == PF_OPT_OPTIONAL)
                fprintf(out, "%s=", o->name);
            if (o->short_name)
                fprintf(out, " -%c", o->short_name);
        }
        fputs("\" ;;\n", out);
    }
    fputs("    esac\n"
          "}\n"
          "\n"
          "_pyflame_c() {\n"
          "    local cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= i=1 w opt= program=\n"
          "    (( COMP_CWORD > 0 )) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
          "    COMPREPLY=()\n"
          "    # the command: the first word that is neither an option nor an option's value\n"
          "    while (( i < COMP_CWORD )); do\n"
          "        w=${COMP_WORDS[i]}\n"
          "        case \" $(_pyflame_c_valued '') \" in *\" $w \"*) (( i += 2 )); continue ;; esac\n"
          "        case $w in -*|=) ;; *) cmd=$w; break ;; esac\n"
          "        (( i++ ))\n"
          "    done\n"
          "    # \"--opt=value\": bash splits it into \"--opt\" \"=\" \"value\" (= breaks words)\n"
          "    if [[ $cur == = ]]; then opt=\"$prev=\"; cur=\n"
          "    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then opt=\"${COMP_WORDS[COMP_CWORD-2]}=\"\n"
          "    elif [[ $cur == --*=* ]]; then opt=\"${cur%%=*}=\"; cur=${cur#*=}\n"
          "    fi\n"
          "    if [[ -z $cmd ]]; then\n"
          "        if [[ -n $opt ]]; then _pyflame_c_value '' \"$opt\"; return 0; fi\n"
          "        if _pyflame_c_value '' \"$prev\"; then return 0; fi\n"
          "        if [[ $cur == -* ]]; then\n"
          "            COMPREPLY=($(compgen -W \"$(_pyflame_c_options '')\" -- \"$cur\"))\n"
          "        else\n"
          "            COMPREPLY=($(compgen -W \"", out);
    char names[256];
    size_t used = 0;
    names[0] = '\0';
    for (size_t i = 0; i < pf_ncommands && used < sizeof names; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? " " : "",
                                 pf_commands[i]->name);
    fprintf(out, "%s help\" -- \"$cur\"))\n"
          "        fi\n"
          "        return 0\n"
          "    fi\n"
          "    if [[ $cmd == help ]]; then\n"
          "        (( i + 1 == COMP_CWORD )) && COMPREPLY=($(compgen -W \"%s\" -- \"$cur\"))\n"
          "        return 0\n"
          "    fi\n"
          "    # collect: the first argument that is not an option is the program (so is\n"
          "    # -m MODULE); what follows it is the program's own\n"
          "    local valued=\" $(_pyflame_c_valued \"$cmd\") \"\n"
          "    for (( i++; i < COMP_CWORD; i++ )); do\n"
          "        w=${COMP_WORDS[i]}\n"
          "        [[ $cmd == collect ]] || break\n"
          "        case $w in\n"
          "        --) program=1; break ;;\n"
          "        -m|--module) (( i++ )); program=1; break ;;\n"
          "        -m?*) program=1; break ;;\n"
          "        -*) if [[ ${COMP_WORDS[i+1]} == = ]]; then (( i += 2 ))\n"
          "            elif [[ $valued == *\" $w \"* ]]; then (( i++ )); fi ;;\n"
          "        *) program=1; break ;;\n"
          "        esac\n"
          "    done\n"
          "    if [[ -n $program ]]; then\n"
          "        # the program's arguments; nothing to offer for -m's module name\n"
          "        (( i < COMP_CWORD )) && _pyflame_c_files \"$cur\"\n"
          "        return 0\n"
          "    fi\n"
          "    if [[ -n $opt ]]; then _pyflame_c_value \"$cmd\" \"$opt\"; return 0; fi\n"
          "    if [[ $valued == *\" $prev \"* ]] && _pyflame_c_value \"$cmd\" \"$prev\"; then\n"
          "        return 0\n"
          "    fi\n"
          "    if [[ $cur == -* && -z $program ]]; then\n"
          "        COMPREPLY=($(compgen -W \"$(_pyflame_c_options \"$cmd\")\" -- \"$cur\"))\n"
          "        [[ ${COMPREPLY[*]} == *= ]] && compopt -o nospace 2>/dev/null\n"
          "        return 0\n"
          "    fi\n"
          "    case $cmd in\n", names, names);
    /* "@pid" operands (attach): process ids; every other command's: file names */
    for (size_t i = 0; i < pf_ncommands; i++)
        if (pf_commands[i]->operands && strcmp(pf_commands[i]->operands, "@pid") == 0)
            fprintf(out, "    %s) COMPREPLY=($(compgen -W \"$(ps -e -o pid= 2>/dev/null)\" "
                    "-- \"$cur\")); return 0 ;;\n", pf_commands[i]->name);
    fputs("    esac\n"
          "    _pyflame_c_files \"$cur\"\n"
          "    return 0\n"
          "}\n"
          "complete -F _pyflame_c pyflame-c\n", out);
}

/* The first clause of an option's help, for zsh's one-line descriptions, escaped for
 * a single-quoted _arguments spec ("[...]"). */
static void zsh_brief(FILE *out, const char *help)
{
    size_t n = 0, len = strlen(help);
    while (n < len && help[n] != '\n' && help[n] != ';' &&
           !(help[n] == '.' && (n + 1 == len || help[n + 1] == ' ')))
        n++;
    if (n > 60) {                 /* at a word boundary */
        n = 60;
        while (n > 20 && help[n] != ' ')
            n--;
    }
    /* no parenthesis left open: "interpreter to run (default" reads badly */
    size_t open_at = 0;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (help[i] == '(' && depth++ == 0)
            open_at = i;
        else if (help[i] == ')' && depth > 0)
            depth--;
    }
    if (depth > 0)
        n = open_at;
    while (n > 0 && (help[n - 1] == ' ' || help[n - 1] == ','))
        n--;
    for (size_t i = 0; i < n; i++) {
        char ch = help[i];
        if (ch == '\'')
            fputs("'\\''", out);
        else if (ch == '[' || ch == ']' || ch == ':' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else
            fputc(ch, out);
    }
}

/* A value's message (the arg name), safe between ':' in a single-quoted spec. */
static void zsh_word(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", out);
        else if (*s == ':' || *s == '\\')
            fprintf(out, "\\%c", *s);
        else
            fputc(*s, out);
    }
}

static void zsh_action(FILE *out, const char *complete)
{
    if (complete == NULL)
        return;                   /* free text: the message only */
    if (strcmp(complete, "@file") == 0)
        fputs("_files", out);
    else if (strcmp(complete, "@command") == 0)
        fputs("_command_names -e", out);
    else
        fprintf(out, "(%s)", complete);
}

static void zsh_specs(FILE *out, const pf_command *cmd, const char *indent)
{
    for (size_t i = 0; i < cmd->nopts; i++) {
        const pf_opt *o = &cmd->opts[i];
        if (o->name == NULL)
            continue;
        for (int s = 0; s < 2; s++) {
            if (s == 1 && !o->short_name)
                continue;
            /* every option may be given again (--include, --base... are repeatable) */
            fprintf(out, "%s'*", indent);
            if (s == 1)
                fprintf(out, "-%c%s", o->short_name, o->kind == PF_OPT_VALUE ? "+" : "");
            else
                fprintf(out, "--%s%s", o->name, o->kind == PF_OPT_VALUE ? "=" :
                        o->kind == PF_OPT_OPTIONAL ? "=-" : "");
            fputc('[', out);
            zsh_brief(out, o->help ? o->help : "");
            fputc(']', out);
            if (o->kind != PF_OPT_FLAG) {
                fputs(o->kind == PF_OPT_OPTIONAL ? "::" : ":", out);
                zsh_word(out, o->arg ? o->arg : "value");
                fputc(':', out);
                zsh_action(out, o->complete);
            }
            fputs("' \\\n", out);
        }
    }
}

static void zsh_script(FILE *out)
{
    fputs("#compdef pyflame-c\n"
          "# zsh completion for pyflame-c(1).  Generated by `pyflame-c --completion zsh`\n"
          "# from the option tables the command line parses with; do not edit.\n"
          "# Use: install it as _pyflame-c in a folder of $fpath (make install puts it in\n"
          "# share/zsh/site-functions), or source it after compinit.\n"
          "\n"
          "_pyflame-c() {\n"
          "  local curcontext=$curcontext state state_descr line ret=1\n"
          "  typeset -A opt_args\n"
          "  _arguments -C \\\n", out);
    zsh_specs(out, &pf_main_command, "    ");
    fputs("    '1:command:->command' \\\n"
          "    '*::argument:->argument' && ret=0\n"
          "  case $state in\n"
          "  (command)\n"
          "    local -a commands\n"
          "    commands=(\n", out);
    for (size_t i = 0; i < pf_ncommands; i++) {
        fprintf(out, "      '%s:", pf_commands[i]->name);
        zsh_brief(out, pf_commands[i]->summary);
        fputs("'\n", out);
    }
    fputs("      'help:show the help of a command'\n", out);
    fputs("    )\n"
          "    _describe -t commands 'pyflame-c command' commands && ret=0\n"
          "    ;;\n"
          "  (argument)\n"
          "    curcontext=${curcontext%:*:*}:pyflame-c-$words[1]:\n"
          "    case $words[1] in\n", out);
    for (size_t i = 0; i < pf_ncommands; i++) {
        const pf_command *c = pf_commands[i];
        fprintf(out, "    (%s)\n      _arguments -s -S \\\n", c->name);
        zsh_specs(out, c, "        ");
        if (c->operands && strcmp(c->operands, "@program") == 0)
            fputs("        '1:script:_files' \\\n"
                  "        '*::program argument:_files' && ret=0\n", out);
        else if (c->operands && strcmp(c->operands, "@pid") == 0)
            fputs("        '1:process id:_pids' && ret=0\n", out);
        else
            fputs("        '*:input:_files' && ret=0\n", out);
        fputs("      ;;\n", out);
    }
    fputs("    (help)\n      _arguments '1:command:(", out);
    for (size_t i = 0; i < pf_ncommands; i++)
        fprintf(out, "%s%s", i ? " " : "", pf_commands[i]->name);
    fputs(")' && ret=0\n      ;;\n", out);
    fputs("    esac\n"
          "    ;;\n"
          "  esac\n"
          "  return ret\n"
          "}\n"
          "\n"
          "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
          "  _pyflame-c \"$@\"\n"
          "else\n"
          "  compdef _pyflame-c pyflame-c\n"
          "fi\n", out);
}

int pf_help_completion(const char *shell, FILE *out)
{
    if (strcmp(shell, "bash") == 0)
        bash_script(out);
    else if (strcmp(shell, "zsh") == 0)
        zsh_script(out);
    else
        return -1;
    return 0;
}
