# pyflame-c: one hand-written Makefile.  Layers, bottom up (each links only what is below):
#   formats/   plain C: trace format, strings, collapsed stacks, stack tree, marshal   -> libpfformats.a
#   convert/   trace -> collapsed / pstats / text / lines                                 -> libpfconvert.a
#   render/    SVG flame graphs (libxml2) and the HTML report                             -> libpfrender.a
#   cli/       the pyflame-c binary: argument parsing and dispatch
#   collector/ the CPython extension (the only code that includes Python.h), one build per interpreter
# New .c files are picked up by the wildcards below; tests/test_*.c each become one cmocka binary.

# ---- settings ---------------------------------------------------------------------------
CC        ?= cc
CLANG     ?= clang
PYTHON    ?= python3
PREFIX    ?= /usr/local
BUILD     ?= build
VERSION   := 0.1.0

ZLIB_CFLAGS = $(shell pkg-config --cflags zlib)
XML_CFLAGS  = $(shell pkg-config --cflags libxml-2.0)
PKG_CFLAGS  = $(ZLIB_CFLAGS) $(XML_CFLAGS)
PKG_LIBS    = $(shell pkg-config --libs zlib libxml-2.0)
# Warnings are errors in `make test` and CI (WERROR=-Werror), not in a user's plain
# `make`: a newer compiler's new warning must not break someone's build.
WERROR    ?=
WARN      = -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes -Wno-sign-conversion $(WERROR)
OPT       ?= -O2 -g
CFLAGS    ?=
SAN       ?=
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(OPT) $(WARN) $(SAN) -MMD -MP \
              -DPF_VERSION='"$(VERSION)"' -I. -I$(BUILD)/gen $(ZLIB_CFLAGS) $(CFLAGS)
LDLIBS    = $(PKG_LIBS) -lm
# Per-layer flags: only render/ sees libxml2's headers (and the tests that check its SVG).
LAYER_CFLAGS = $(if $(filter render/% tests/% bench/%,$<),$(XML_CFLAGS))
export PF_WERROR = $(WERROR)

FORMATS_SRC := $(wildcard formats/*.c)
CONVERT_SRC := $(wildcard convert/*.c)
RENDER_SRC  := $(wildcard render/*.c)
CLI_SRC     := $(wildcard cli/*.c)
TEST_SRC    := $(wildcard tests/test_*.c)
# render/assets/NAME (JS, CSS) is embedded as $(BUILD)/gen/NAME.inc: a C initializer list
# of bytes, included by the renderers, so the assets stay readable files in the repo.
ASSETS      := $(wildcard render/assets/*)
ASSET_INCS  := $(patsubst render/assets/%,$(BUILD)/gen/%.inc,$(ASSETS))
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
FORMATS_LIB := $(BUILD)/libpfformats.a
CONVERT_LIB := $(BUILD)/libpfconvert.a
RENDER_LIB  := $(BUILD)/libpfrender.a
LIBS        := $(RENDER_LIB) $(CONVERT_LIB) $(FORMATS_LIB)
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: docs install-test bomb-test golden check-layers uninstall enable-import disable-import bench-tools all collector collectors test unit integration asan asan-integration fuzz fuzz-run bench demo install clean deps-test deps-demo deps-bench browser-test
all: $(BUILD)/pyflame-c collector

# ---- libraries and the CLI --------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(LAYER_CFLAGS) -c $< -o $@

$(BUILD)/gen/%.inc: render/assets/% scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh $< > $@.tmp && mv $@.tmp $@
$(call obj,$(RENDER_SRC)): | $(ASSET_INCS)

$(FORMATS_LIB): $(call obj,$(FORMATS_SRC))
$(CONVERT_LIB): $(call obj,$(CONVERT_SRC))
$(RENDER_LIB):  $(call obj,$(RENDER_SRC))
$(BUILD)/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/pyflame-c: $(call obj,$(CLI_SRC)) $(LIBS)
	$(CC) $(SAN) -o $@ $(call obj,$(CLI_SRC)) $(LIBS) $(LDLIBS)

# ---- the collector extension, one build per interpreter ----------------------------------
# `make collector` builds for $(PYTHON); `make collectors` for every CPython 3.8-3.15 found,
# after scripts/get-pythons.sh has installed 3.14 and 3.15 (and pyinstrument, for
# tests/integration/test_foreign_inputs.py) from Debian unstable into a
# private cache (once; PYFLAME_C_GET_PYTHONS=0 skips it).
# The package lands in $(BUILD)/python/pyflame/, where the CLI looks for it (see cli/paths.c);
# extension suffixes differ per version, so all builds share one package folder.
collector:
	@sh scripts/build-collector.sh "$(PYTHON)" "$(BUILD)" "$(CC)" "$(OPT) $(SAN)"

# The package's metadata beside it (pyflame_c-VERSION.dist-info): its pytest11 entry point
# registers the pytest plugin wherever `import pyflame` works.
DISTINFO := $(BUILD)/python/pyflame_c-$(VERSION).dist-info
$(DISTINFO)/entry_points.txt: scripts/dist-info.sh
	@sh scripts/dist-info.sh "$(DISTINFO)" "$(VERSION)"
collector collectors: $(DISTINFO)/entry_points.txt

collectors:
	@sh scripts/get-pythons.sh
	@for py in $$(sh scripts/find-pythons.sh); do \
	    sh scripts/build-collector.sh "$$py" "$(BUILD)" "$(CC)" "$(OPT) $(SAN)" || exit 1; \
	done

# ---- tests ------------------------------------------------------------------------------
$(BUILD)/tests/%: tests/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(XML_CFLAGS) -Wno-conversion -DPF_BUILD_DIR='"$(BUILD)"' -o $@ $< $(TEST_OBJS) $(LIBS) $(LDLIBS) -lcmocka

# The collector's calling-context tree is plain C (no Python.h): test_cct links its object.
$(BUILD)/tests/test_cct: TEST_OBJS = $(BUILD)/obj/collector/cct.o
$(BUILD)/tests/test_cct: $(BUILD)/obj/collector/cct.o
# So are the ELF relocation scanner (collector/elfgot.c, run on the test binary itself),
# the table of pending asyncio links (collector/linkmap.c) and the RSS sample buffer
# (collector/rss.c).
$(BUILD)/tests/test_elfgot: TEST_OBJS = $(BUILD)/obj/collector/elfgot.o
$(BUILD)/tests/test_elfgot: $(BUILD)/obj/collector/elfgot.o
$(BUILD)/tests/test_linkmap: TEST_OBJS = $(BUILD)/obj/collector/linkmap.o
$(BUILD)/tests/test_linkmap: $(BUILD)/obj/collector/linkmap.o
$(BUILD)/tests/test_rss: TEST_OBJS = $(BUILD)/obj/collector/rss.o
$(BUILD)/tests/test_rss: $(BUILD)/obj/collector/rss.o

# test_inject runs PEP 768's remote execution (cli/inject.c) against a fake runtime in
# its own memory: it links the few cli objects that reads and writes through.
INJECT_TEST_OBJS := $(call obj,cli/inject.c cli/pyoffsets.c cli/procmem.c cli/paths.c)
$(BUILD)/tests/test_inject: TEST_OBJS = $(INJECT_TEST_OBJS)
$(BUILD)/tests/test_inject: $(INJECT_TEST_OBJS)

# test_pyoffsets reads offsets files with the cli's reader (and what it links: procmem, paths).
PYOFFSETS_TEST_OBJS := $(call obj,cli/pyoffsets.c cli/procmem.c cli/paths.c)
$(BUILD)/tests/test_pyoffsets: TEST_OBJS = $(PYOFFSETS_TEST_OBJS)
$(BUILD)/tests/test_pyoffsets: $(PYOFFSETS_TEST_OBJS)

# test_cli checks the command descriptions (cli/help.h) against what the binary prints
# and parses: it links the cli objects but main.o.
CLI_TEST_OBJS := $(filter-out %/main.o,$(call obj,$(CLI_SRC)))
$(BUILD)/tests/test_cli: TEST_OBJS = $(CLI_TEST_OBJS)
$(BUILD)/tests/test_cli: $(CLI_TEST_OBJS)

unit: $(TESTS) $(BUILD)/pyflame-c
	@sh scripts/run-unit-tests.sh $(TESTS)

# Every output of convert, svg and html on fixed inputs, byte for byte (tests/golden/cases).
golden: $(BUILD)/pyflame-c
	@sh scripts/run-golden.sh "$(BUILD)"

# gzip bombs against convert and html under a small address-space limit (tests/bomb/).
bomb-test: $(BUILD)/pyflame-c
	@sh tests/bomb/run.sh "$(BUILD)"

integration: $(BUILD)/pyflame-c collectors
	@sh scripts/run-integration.sh "$(BUILD)"

# AddressSanitizer + UBSan build of everything, in its own build folder: the unit tests,
# then the collector inside real interpreters (scripts/run-asan-integration.sh).
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) BUILD=$(BUILD)/asan OPT="-O1 -g" SAN="$(ASAN_FLAGS)" unit asan-integration

asan-integration: $(BUILD)/pyflame-c
	@sh scripts/run-asan-integration.sh "$(BUILD)" "$(CC)" "$(OPT) $(SAN)"

# No file includes a header from a layer above its own (scripts/check-layers.sh).
check-layers:
	@sh scripts/check-layers.sh

# Every test: layers, unit tests, golden outputs, the same under sanitizers, the
# interpreter matrix, short fuzz runs, the browser.  Warnings are errors here.
test: deps-test
	$(MAKE) check-layers
	$(MAKE) WERROR=-Werror all
	$(MAKE) WERROR=-Werror unit
	$(MAKE) golden
	$(MAKE) bomb-test
	$(MAKE) WERROR=-Werror asan
	$(MAKE) WERROR=-Werror integration
	$(MAKE) install-test
	$(MAKE) fuzz-run FUZZ_SECONDS=$${FUZZ_SECONDS:-10}
	$(MAKE) browser-test

deps-test:
	@sh scripts/deps.sh test
	@sh scripts/get-pythons.sh
deps-demo:
	@sh scripts/deps.sh demo
deps-bench:
	@sh scripts/deps.sh bench

# ---- fuzzing (libFuzzer, clang) ---------------------------------------------------------
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
# Every target links the three libraries' sources, instrumented; UBSan findings are
# fatal, so a fuzzer stops at the first undefined behaviour.
FUZZ_LIB_SRC := $(FORMATS_SRC) $(CONVERT_SRC) $(RENDER_SRC)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRC) | $(ASSET_INCS)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -I. -I$(BUILD)/gen $(PKG_CFLAGS) -DPF_VERSION='"$(VERSION)"' \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -o $@ $< $(FUZZ_LIB_SRC) $(LDLIBS)
fuzz-run: fuzz
	@sh scripts/run-fuzz.sh "$(FUZZ_SECONDS)" $(FUZZ_BINS)

browser-test: all
	@sh scripts/run-browser-tests.sh "$(BUILD)"

# ---- benchmarks and the demo ------------------------------------------------------------
# bench/tools/NAME.c: small generators the benchmarks use (e.g. a million-node trace).
BENCH_TOOLS := $(patsubst bench/tools/%.c,$(BUILD)/bench/%,$(wildcard bench/tools/*.c))
bench-tools: $(BENCH_TOOLS)
$(BUILD)/bench/%: bench/tools/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(XML_CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

bench: deps-bench
	$(MAKE) all collectors bench-tools
	@sh bench/run.sh "$(BUILD)"

demo: deps-demo
	$(MAKE) all
	@sh scripts/demo.sh "$(BUILD)"

# ---- the man page and the shell completions ------------------------------------------------
# Printed by the binary from the option tables it parses with (cli/help.c), so they
# cannot drift from --help: pyflame-c --man, pyflame-c --completion bash|zsh.
MAN_PAGE      := $(BUILD)/share/man/man1/pyflame-c.1
BASH_COMPLETE := $(BUILD)/share/bash-completion/completions/pyflame-c
ZSH_COMPLETE  := $(BUILD)/share/zsh/site-functions/_pyflame-c
DOCS          := $(MAN_PAGE) $(BASH_COMPLETE) $(ZSH_COMPLETE)
docs: $(DOCS)
$(MAN_PAGE): $(BUILD)/pyflame-c
	@mkdir -p $(dir $@)
	$(BUILD)/pyflame-c --man > $@.tmp && mv $@.tmp $@
$(BASH_COMPLETE): $(BUILD)/pyflame-c
	@mkdir -p $(dir $@)
	$(BUILD)/pyflame-c --completion bash > $@.tmp && mv $@.tmp $@
$(ZSH_COMPLETE): $(BUILD)/pyflame-c
	@mkdir -p $(dir $@)
	$(BUILD)/pyflame-c --completion zsh > $@.tmp && mv $@.tmp $@

# ---- install ----------------------------------------------------------------------------
# Writes only under $(DESTDIR)$(PREFIX): bin/pyflame-c, lib/pyflame-c/python/pyflame/
# (the package, with a collector for every interpreter found) and its metadata
# lib/pyflame-c/python/pyflame_c-VERSION.dist-info (the pytest11 entry point), the man page
# share/man/man1/pyflame-c.1 and the completions share/bash-completion/completions/pyflame-c
# and share/zsh/site-functions/_pyflame-c.  `make uninstall` with the
# same PREFIX and DESTDIR removes exactly that.  Making `import pyflame` work in an
# interpreter is a separate, explicit step: make enable-import PYTHON=/usr/bin/python3
# (undo: make disable-import PYTHON=...).
LIBDIR = $(PREFIX)/lib/pyflame-c
SHAREDIR = $(PREFIX)/share
install: all collectors docs
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(LIBDIR)/python/pyflame
	install -m 755 $(BUILD)/pyflame-c $(DESTDIR)$(PREFIX)/bin/pyflame-c
	cp -R $(BUILD)/python/pyflame/. $(DESTDIR)$(LIBDIR)/python/pyflame/
	cp -R $(DISTINFO) $(DESTDIR)$(LIBDIR)/python/
	install -d $(DESTDIR)$(SHAREDIR)/man/man1 $(DESTDIR)$(SHAREDIR)/bash-completion/completions \
	    $(DESTDIR)$(SHAREDIR)/zsh/site-functions
	install -m 644 $(MAN_PAGE) $(DESTDIR)$(SHAREDIR)/man/man1/pyflame-c.1
	install -m 644 $(BASH_COMPLETE) $(DESTDIR)$(SHAREDIR)/bash-completion/completions/pyflame-c
	install -m 644 $(ZSH_COMPLETE) $(DESTDIR)$(SHAREDIR)/zsh/site-functions/_pyflame-c

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/pyflame-c
	rm -rf $(DESTDIR)$(LIBDIR)
	rm -f $(DESTDIR)$(SHAREDIR)/man/man1/pyflame-c.1 \
	    $(DESTDIR)$(SHAREDIR)/bash-completion/completions/pyflame-c \
	    $(DESTDIR)$(SHAREDIR)/zsh/site-functions/_pyflame-c
	@# the folders install created, when nothing else is left in them
	-rmdir $(DESTDIR)$(SHAREDIR)/man/man1 $(DESTDIR)$(SHAREDIR)/man \
	    $(DESTDIR)$(SHAREDIR)/bash-completion/completions $(DESTDIR)$(SHAREDIR)/bash-completion \
	    $(DESTDIR)$(SHAREDIR)/zsh/site-functions $(DESTDIR)$(SHAREDIR)/zsh $(DESTDIR)$(SHAREDIR) \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX) 2>/dev/null; \
	 d=$$(dirname "$(DESTDIR)$(PREFIX)"); \
	 while [ -n "$(DESTDIR)" ] && [ "$$d" != "$(DESTDIR)" ] && [ "$$d" != / ] && rmdir "$$d" 2>/dev/null; do \
	     d=$$(dirname "$$d"); done; true

# make install DESTDIR=<fresh folder> writes only there; make uninstall empties it.
install-test: all
	@sh tests/install/run.sh

enable-import:
	@sh scripts/python-import.sh enable "$(PYTHON)" "$(LIBDIR)/python"
disable-import:
	@sh scripts/python-import.sh disable "$(PYTHON)" "$(LIBDIR)/python"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
