# atrest - encryption at rest with customer-managed keys: bench and verify.
#
#   make demo     set up, build, run the main job on embedded defaults
#   make test     set up, build, run the whole suite (then again under ASan+UBSan)
#   make check    build and run the suite once, without installing anything
#   make fuzz     run each libFuzzer target for FUZZ_SECONDS (make test: 15 s each)
#
# SAN=1 builds everything under build-san/ with ASan+UBSan; SAN=thread
# under build-tsan/ with ThreadSanitizer (make check-tsan).

CC ?= cc
VECTOR_DIR ?= ../shared/vectors
SAN ?= 0

ifeq ($(SAN),1)
B := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT := -O1
else ifeq ($(SAN),thread)
B := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
OPT := -O1
else
B := build
SANFLAGS :=
OPT := -O2
endif

PKGS := openssl libcurl libcjson libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# The atrest binary links only OpenSSL and cJSON: libcurl and
# libmicrohttpd are opened on first use (core/dlib.h), which saves every
# command ~14 ms of start-up.  The test programs link the same archives
# and reach the two libraries the same way; libcurl is linked into them
# only for the requests the tests make themselves.
APP_LIBS := $(shell pkg-config --libs openssl libcjson 2>/dev/null) -ldl -lm
TEST_LIBS := $(APP_LIBS) $(shell pkg-config --libs libcurl 2>/dev/null) -lcriterion

CFLAGS ?= $(OPT) -g
CFLAGS += -std=c11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
	$(PKG_CFLAGS) $(SANFLAGS) -pthread -MMD -MP
LDFLAGS += $(SANFLAGS) -pthread

# The layers (docs/ARCHITECTURE.md), lowest first.  Each folder is
# compiled with the include paths of the layers it may use and nothing
# else, so an include that reaches up does not compile;
# scripts/check-layers.sh also checks every include against this table.
LAYERS := core keyvault keys vault verify bench report cli
INC_core := -Icore
INC_keyvault := $(INC_core) -Ikeyvault
INC_keys := $(INC_keyvault) -Ikeys -I/usr/include/p11-kit-1
INC_vault := $(INC_core) -Ivault
INC_verify := $(INC_keys) -Iverify
INC_bench := $(INC_keys) -Ivault -Ibench
INC_report := $(INC_bench) -Ireport
INC_cli := $(INC_keys) -Ivault -Iverify -Ibench -Ireport -Icli
INC_tests := $(INC_cli) -Itests/testlib

# One archive per layer, named for what it holds.
ARCHIVE_core := libatrest-core.a
ARCHIVE_keyvault := libatrest-keyvault.a
ARCHIVE_keys := libatrest-keys.a
ARCHIVE_vault := libatrest-vault.a
ARCHIVE_verify := libatrest-verify.a
ARCHIVE_bench := libatrest-bench.a
ARCHIVE_report := libatrest-report.a
LIB_LAYERS := report bench verify vault keys keyvault core
ARCHIVES := $(foreach l,$(LIB_LAYERS),$(B)/$(ARCHIVE_$(l)))

src_of = $(sort $(wildcard $(1)/*.c))
obj_of = $(patsubst %.c,$(B)/%.o,$(call src_of,$(1)))

APP_OBJ := $(call obj_of,cli)
TLIB_SRC := $(sort $(wildcard tests/testlib/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
E2E_SRC := $(sort $(wildcard tests/e2e/test_*.c))
TLIB_OBJ := $(TLIB_SRC:%.c=$(B)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
E2E_BIN := $(E2E_SRC:tests/e2e/%.c=$(B)/tests/e2e_%)

.PHONY: all deps demo test check check-san check-valgrind check-tsan check-sdk check-browser tests fuzz perf-kv clean lint check-layers check-symbols

all: $(B)/atrest

deps:
	@bash scripts/deps.sh

# Objects: each layer's folder with its own include paths; -MMD -MP
# writes the headers each object depends on (.d files, included below).
define layer_rules
$(B)/$(1)/%.o: $(1)/%.c
	@mkdir -p $$(dir $$@)
	@echo "  CC      $$<"
	@$$(CC) $$(CFLAGS) $$(INC_$(1)) -c -o $$@ $$<
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rules,$(l))))

$(B)/tests/testlib/%.o: tests/testlib/%.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(INC_tests) -c -o $@ $<

define archive_rule
$(B)/$(ARCHIVE_$(1)): $(call obj_of,$(1))
	@rm -f $$@
	@ar rcs $$@ $$^
endef
$(foreach l,$(LIB_LAYERS),$(eval $(call archive_rule,$(l))))

$(B)/atrest: $(APP_OBJ) $(ARCHIVES)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $(APP_OBJ) $(ARCHIVES) $(APP_LIBS)

$(B)/tests/%: tests/unit/%.c $(TLIB_OBJ) $(ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) $(INC_tests) $(LDFLAGS) -o $@ $< $(TLIB_OBJ) $(ARCHIVES) $(TEST_LIBS)

$(B)/tests/e2e_%: tests/e2e/%.c $(TLIB_OBJ) $(ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) $(INC_tests) $(LDFLAGS) -o $@ $< $(TLIB_OBJ) $(ARCHIVES) $(TEST_LIBS)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

tests: $(B)/atrest $(UNIT_BIN) $(E2E_BIN)

demo: deps
	@$(MAKE) --no-print-directory all
	@bash scripts/demo.sh $(B)/atrest

# The README's test command: installs what is missing, then runs the
# suite normally and under ASan+UBSan.
test: deps
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory check-symbols
	@$(MAKE) --no-print-directory check-sdk
	@$(MAKE) --no-print-directory check-browser
	@$(MAKE) --no-print-directory check SAN=1
	@$(MAKE) --no-print-directory check-valgrind
	@$(MAKE) --no-print-directory check-tsan
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(CI_FUZZ_SECONDS)
	@echo "make test: the layering and symbol checks, lint, the suite, the Azure SDK suite, the browser suite, the ASan+UBSan run, the valgrind run, the TSan run and the fuzzers all passed"
	@cat build/.tests-summary

check: tests
	@VECTOR_DIR=$(VECTOR_DIR) SUMMARY_FILE=$(B)/.tests-summary bash scripts/run-tests.sh $(B)

# Azure's official JavaScript SDK against atrest vault serve (tests/sdk/).
# Skips only when node/npm are missing; npm ci needs the npm registry.
check-sdk: $(B)/atrest
	@bash scripts/sdk-test.sh $(B)/atrest

# atrest report pages in headless Chromium (tests/browser/); screenshots
# kept in $(B)/test-artifacts.  npm ci needs the npm registry; skips when
# node or Chromium is missing, except under CI.
check-browser: $(B)/atrest
	@bash scripts/browser-test.sh $(B)/atrest

check-san:
	@$(MAKE) --no-print-directory check SAN=1

# The multi-threaded paths of the binary under ThreadSanitizer (Criterion
# itself cannot start under TSan, so scripts/tsan-check.sh drives the CLI).
check-tsan:
	@$(MAKE) --no-print-directory SAN=thread build-tsan/atrest
	@bash scripts/tsan-check.sh build-tsan/atrest

# The end-to-end suites again, with every atrest process under valgrind
# (not the rewrap crash test: its kill timings mean nothing at valgrind speed).
VALGRIND_SUITES ?= e2e_test_cli e2e_test_verify_cli e2e_test_bench_cli
check-valgrind: tests
	@ATREST_REAL_BIN=$(CURDIR)/$(B)/atrest ATREST_BIN_OVERRIDE=$(CURDIR)/scripts/valgrind-atrest.sh \
		VECTOR_DIR=$(VECTOR_DIR) ONLY='$(VALGRIND_SUITES)' bash scripts/run-tests.sh $(B)

# Benchmarks that are programs rather than tests (figures, never asserts).
$(B)/perf/%: tests/perf/%.c $(ARCHIVES)
	@mkdir -p $(dir $@)
	@echo "  PERF    $@"
	@$(CC) $(CFLAGS) $(INC_tests) $(LDFLAGS) -o $@ $< $(ARCHIVES) $(TEST_LIBS)

perf-kv: $(B)/perf/kv_overhead
	@$(B)/perf/kv_overhead

# The layering (docs/ARCHITECTURE.md), with a self-test that plants one
# violation of each kind in a copy of the tree.
check-layers:
	@bash scripts/check-layers.sh .
	@bash scripts/check-layers.sh --self-test
	@bash scripts/check-repo.sh --self-test
	@bash scripts/check-repo.sh

# Nothing test-only in the binary; then the same check on a binary with
# a test object planted in it must fail.
check-symbols: $(B)/atrest $(TLIB_OBJ)
	@bash scripts/check-symbols.sh $(B)/atrest $(TLIB_OBJ)
	@$(CC) $(LDFLAGS) -o $(B)/atrest-planted $(APP_OBJ) \
		$(B)/tests/testlib/leaky_key.o $(ARCHIVES) $(APP_LIBS)
	@if bash scripts/check-symbols.sh $(B)/atrest-planted $(TLIB_OBJ) >/dev/null; then \
		echo "check-symbols: a planted test object went unnoticed"; exit 1; \
	else echo "check-symbols: a binary with a planted test object is refused"; fi
	@rm -f $(B)/atrest-planted

lint:
	@bash scripts/lint.sh --self-test
	@bash scripts/lint.sh

clean:
	rm -rf build build-san build-tsan build-fuzz

# libFuzzer targets (clang): each runs FUZZ_SECONDS from its corpus;
# crashes land in build-fuzz/ and become regression inputs under
# tests/fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 60
CI_FUZZ_SECONDS ?= 15
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRC := $(foreach l,$(LIB_LAYERS),$(call src_of,$(l)))
FUZZ_CFLAGS := -std=c11 -g -O1 $(INC_tests) $(PKG_CFLAGS) \
	-D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -pthread

build-fuzz/%: tests/fuzz/%.c $(FUZZ_SRC)
	@mkdir -p build-fuzz
	@echo "  FUZZ    $@"
	@clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC) $(APP_LIBS)

# The harness's own regression test needs build-fuzz/fuzz_decrypt, so it
# runs here, once the targets are built (make check skips it before).
fuzz: deps $(FUZZ_TARGETS:%=build-fuzz/%) build/tests/test_fuzz_harness
	@VECTOR_DIR=$(VECTOR_DIR) ONLY=test_fuzz_harness bash scripts/run-tests.sh build
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus-$$t; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
		build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build-fuzz/$$t- \
			-print_final_stats=1 build-fuzz/corpus-$$t tests/fuzz/corpus/$${t#fuzz_} 2>&1 | \
			grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; \
	done
