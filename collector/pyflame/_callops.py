"""_callops: which opcode bytes of this interpreter are calls, for the sampler's <native>
marker (collect --sample --native, attach --native; cli/pyoffsets.h).

A sample whose innermost Python frame stands on a call instruction is inside a call
into C: had the callee been Python, its frame would be above.  Opcode numbers differ
per version, and 3.11+ rewrite instructions in place into specialised forms
(CALL -> CALL_BUILTIN_O, PRECALL_NO_KW_BUILTIN_FAST...) with numbers of their own,
which only the interpreter's own tables give: dis._all_opname (3.11+: every
instruction the interpreter can execute, specialised ones included, as
dis.dis(adaptive=True) names them), else opcode.opname.

Output: "name value" lines in the format of the .sample file the collector writes
(collector/sampleinfo.c; cli/pyoffsets.c parses both).  Only the standard library is
imported: attach runs this file's text with the target's own interpreter
(/proc/PID/exe -I -S -c), where the pyflame package is not importable.
"""
import sys

# Named like calls, but not calls of a function: 3.8's jump into a finally block, and
# 3.12+'s interpreter helpers (print of an interactive expression, import *, ...).
_NOT_CALLS = ("CALL_FINALLY", "CALL_INTRINSIC_1", "CALL_INTRINSIC_2")
_CALLS = ("CALL", "PRECALL", "INSTRUMENTED_CALL")


def is_call(name):
    """Whether the instruction named name calls a function (CALL_FUNCTION_KW on 3.8,
    PRECALL_NO_KW_LEN on 3.11, INSTRUMENTED_CALL_KW on 3.13...)."""
    return name.startswith(_CALLS) and name not in _NOT_CALLS


def lines():
    """The call bitmap (bit op % 8 of byte op // 8: opcode op is a call) as 64 hex
    digits, and EXTENDED_ARG's opcode, in the .sample file's format."""
    import dis
    import opcode
    names = getattr(dis, "_all_opname", None) or opcode.opname
    bits = bytearray(32)
    for op, name in enumerate(names[:256]):
        if is_call(name):
            bits[op >> 3] |= 1 << (op & 7)
    return "call_ops %s\nextended_arg %d\n" % (bits.hex(), opcode.opmap.get("EXTENDED_ARG", -1))


if __name__ == "__main__":
    # attach: the interpreter's exact version too, to be checked against the target's
    sys.stdout.write("version_hex %d\n%s" % (sys.hexversion, lines()))
