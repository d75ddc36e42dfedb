# pyflame-c: one hand-written Makefile.  Layers, bottom up (each links only what is below):
#   formats/   plain C: trace format, strings, collapsed stacks, flame trees, marshal  -> libpfformats.a
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

PKG_CFLAGS = $(shell pkg-config --cflags zlib libxml-2.0)
PKG_LIBS   = $(shell pkg-config --libs zlib libxml-2.0)
WARN      = -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes -Wno-sign-conversion -Werror
OPT       ?= -O2 -g
CFLAGS    ?=
SAN       ?=
BASE_CFLAGS = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(OPT) $(WARN) $(SAN) -MMD -MP \
              -DPF_VERSION='"$(VERSION)"' -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDLIBS    = $(PKG_LIBS) -lm

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

.PHONY: golden bench-tools all collector collectors test unit integration asan asan-integration fuzz fuzz-run bench demo install clean deps-test deps-demo deps-bench browser-test
all: $(BUILD)/pyflame-c collector

# ---- libraries and the CLI --------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -c $< -o $@

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
# `make collector` builds for $(PYTHON); `make collectors` for every CPython 3.8-3.13 found.
# The package lands in $(BUILD)/python/pyflame/, where the CLI looks for it (see cli/paths.c);
# extension suffixes differ per version, so all builds share one package folder.
collector:
	@sh scripts/build-collector.sh "$(PYTHON)" "$(BUILD)" "$(CC)" "$(OPT) $(SAN)"

collectors:
	@for py in $$(sh scripts/find-pythons.sh); do \
	    sh scripts/build-collector.sh "$$py" "$(BUILD)" "$(CC)" "$(OPT) $(SAN)" || exit 1; \
	done

# ---- tests ------------------------------------------------------------------------------
$(BUILD)/tests/%: tests/%.c $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) -Wno-conversion -DPF_BUILD_DIR='"$(BUILD)"' -o $@ $< $(TEST_OBJS) $(LIBS) $(LDLIBS) -lcmocka

# The collector's calling-context tree is plain C (no Python.h): test_cct links its object.
$(BUILD)/tests/test_cct: TEST_OBJS = $(BUILD)/obj/collector/cct.o
$(BUILD)/tests/test_cct: $(BUILD)/obj/collector/cct.o

unit: $(TESTS) $(BUILD)/pyflame-c
	@sh scripts/run-unit-tests.sh $(TESTS)

# Every output of convert, svg and html on fixed inputs, byte for byte (tests/golden/cases).
golden: $(BUILD)/pyflame-c
	@sh scripts/run-golden.sh "$(BUILD)"

integration: $(BUILD)/pyflame-c collectors
	@sh scripts/run-integration.sh "$(BUILD)"

# AddressSanitizer + UBSan build of everything, in its own build folder: the unit tests,
# then the collector inside real interpreters (scripts/run-asan-integration.sh).
ASAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) BUILD=$(BUILD)/asan OPT="-O1 -g" SAN="$(ASAN_FLAGS)" unit asan-integration

asan-integration: $(BUILD)/pyflame-c
	@sh scripts/run-asan-integration.sh "$(BUILD)" "$(CC)" "$(OPT) $(SAN)"

# Every test: unit tests, the same under sanitizers, the interpreter matrix, short fuzz runs.
test: deps-test
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) golden
	$(MAKE) asan
	$(MAKE) integration
	$(MAKE) fuzz-run FUZZ_SECONDS=$${FUZZ_SECONDS:-10}
	$(MAKE) browser-test

deps-test:
	@sh scripts/deps.sh test
deps-demo:
	@sh scripts/deps.sh demo
deps-bench:
	@sh scripts/deps.sh bench

# ---- fuzzing (libFuzzer, clang) ---------------------------------------------------------
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FORMATS_SRC)
	@mkdir -p $(dir $@)
	$(CLANG) -std=c11 -D_GNU_SOURCE -g -O1 -I. $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
	    -o $@ $< $(FORMATS_SRC) $(LDLIBS)
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
	$(CC) $(BASE_CFLAGS) -o $@ $< $(LIBS) $(LDLIBS)

bench: deps-bench
	$(MAKE) all collectors bench-tools
	@sh bench/run.sh "$(BUILD)"

demo: deps-demo
	$(MAKE) all
	@sh scripts/demo.sh "$(BUILD)"

# ---- install ----------------------------------------------------------------------------
# Layout: $(PREFIX)/bin/pyflame-c and $(PREFIX)/lib/pyflame-c/python/pyflame/ (the package
# with every collector built).  A pyflame-c.pth in each interpreter's site-packages makes
# `import pyflame` work there directly.
install: all collectors
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pyflame-c/python/pyflame
	install -m 755 $(BUILD)/pyflame-c $(DESTDIR)$(PREFIX)/bin/pyflame-c
	cp -R $(BUILD)/python/pyflame/. $(DESTDIR)$(PREFIX)/lib/pyflame-c/python/pyflame/
	@sh scripts/install-pth.sh "$(DESTDIR)$(PREFIX)/lib/pyflame-c/python"

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
