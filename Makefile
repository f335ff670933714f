# lua-ims build. `make` builds build/ims/core.so; `make test` is the README's test command.
# Mandatory flags live outside CFLAGS/LDFLAGS so `make CFLAGS=...` cannot drop them.
SHELL      := /bin/bash
LUA        ?= lua5.4
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr/local
BUILD      ?= build

LUA_CFLAGS  := $(shell $(PKG_CONFIG) --cflags lua5.4 2>/dev/null)
CURL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS   := $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
SSL_LIBS    := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)

CFLAGS  ?= -O2 -g
LDFLAGS ?=
WARN        = -std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
ALL_CFLAGS  = $(WARN) -fPIC $(LUA_CFLAGS) $(CURL_CFLAGS) $(CFLAGS)
LIBFLAG     = -shared

SRC  := $(wildcard src/*.c)
HDR  := $(wildcard src/*.h)
CORE := $(BUILD)/ims/core.so

.PHONY: all build test demo lint valgrind asan install uninstall clean rock deps fuzz fuzz-api embed-example

all build: $(CORE)

$(CORE): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LIBFLAG) -pthread -o $@ $(SRC) $(LDFLAGS) $(CURL_LIBS) $(SSL_LIBS) -lm

deps:
	scripts/deps test

# The README's test command: installs what is missing, builds, starts a real Glance on the
# loopback, runs every spec, stops Glance. Ends with "N passed, N failed".
test:
	scripts/test

# The README's demo command: a whole workflow against a local Glance.
demo:
	scripts/demo

lint: deps
	luacheck --no-color lua spec examples
	$(MAKE) -B $(BUILD)/lint/ims/core.so BUILD=$(BUILD)/lint CFLAGS='-O2 -g -Werror'

# The reference (LDoc, markdown by lua-discount; any warning fails) in doc/, then the check that
# every public function is documented (scripts/doccheck) and a look at the pages in headless
# chromium (scripts/doccheck-browser: headings, code spans, tables, examples' descriptions, links,
# non-blank screenshots).
.PHONY: doc
doc:
	scripts/deps doc
	ldoc --fatalwarnings .
	scripts/doccheck
	scripts/doccheck-browser

# The whole suite under valgrind (nodelete keeps libcurl's globals from looking lost at dlclose).
valgrind:
	scripts/deps test
	$(MAKE) $(BUILD)/valgrind/ims/core.so BUILD=$(BUILD)/valgrind CFLAGS='-O1 -g' LDFLAGS='-Wl,-z,nodelete'
	IMS_TEST_CPATH=$(BUILD)/valgrind/?.so \
	IMS_TEST_WRAP='valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect' \
	scripts/test

asan:
	scripts/deps test
	$(MAKE) $(BUILD)/asan/ims/core.so BUILD=$(BUILD)/asan \
	  CFLAGS='-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all' \
	  LDFLAGS='-fsanitize=address,undefined -Wl,-z,nodelete'
	IMS_TEST_CPATH=$(BUILD)/asan/?.so \
	IMS_TEST_PRELOAD="$$($(CC) -print-file-name=libasan.so)" \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
	scripts/test

# libFuzzer targets (clang) for the C that parses or canonicalises untrusted input; each runs
# FUZZ_SECONDS on its corpus in fuzz/corpus/<target> (new finds are added to it).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := fuzz_canon fuzz_sign fuzz_headers fuzz_obs
FUZZ_CFLAGS = -std=c99 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all $(LUA_CFLAGS) $(CURL_CFLAGS)
# The seeded API fuzzer (spec/api_fuzz_spec.lua; make test runs 1,000 calls from a fixed seed)
# for FUZZ_API_ITERS calls from FUZZ_API_SEED (default: the time; a failure prints its seed).
FUZZ_API_ITERS ?= 30000
fuzz-api:
	IMS_API_FUZZ_ITERS=$(FUZZ_API_ITERS) IMS_API_FUZZ_SEED=$${FUZZ_API_SEED:-$$(date +%s)} \
	  scripts/test spec/api_fuzz_spec.lua

fuzz:
	scripts/deps fuzz
	@mkdir -p $(BUILD)/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  clang $(FUZZ_CFLAGS) -o $(BUILD)/fuzz/$$t fuzz/$$t.c $(SRC) \
	    -llua5.4 $(CURL_LIBS) $(SSL_LIBS) -lm -pthread || exit 1; \
	  mkdir -p fuzz/corpus/$$t; \
	  echo "== $$t ($(FUZZ_SECONDS) s)"; \
	  $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 fuzz/corpus/$$t 2>&1 \
	    | grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|cov:|ERROR|SUMMARY' \
	    | tail -4; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# A C host with the core linked in (examples/embed/host.c).
embed-example: $(BUILD)/embed/ims-host
$(BUILD)/embed/ims-host: examples/embed/host.c $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(LUA_CFLAGS) $(CURL_CFLAGS) $(CFLAGS) -Isrc -DIMS_LUA_DIR='"$(CURDIR)/lua"' \
	  -pthread -o $@ examples/embed/host.c $(SRC) $(LDFLAGS) -llua5.4 $(CURL_LIBS) $(SSL_LIBS) -lm

# Build and install the rock into ./lua_modules offline (Debian's luarocks), then load it.
rock:
	scripts/deps test
	rm -rf lua_modules
	LUAROCKS_CONFIG=$(CURDIR)/rockspec/luarocks-config.lua \
	  luarocks --lua-version=5.4 make --tree=$(CURDIR)/lua_modules rockspec/ims-scm-1.rockspec
	cd / && eval "$$(luarocks --lua-version=5.4 --tree=$(CURDIR)/lua_modules path)" && \
	  $(LUA) -e 'local ims = require "ims"; print("loaded ims " .. ims._VERSION .. " from " .. package.searchpath("ims.core", package.cpath))'

# Benchmarks (bench/run): lua-ims beside the curl CLI, python-glanceclient and openstacksdk on
# the local stack, each operation in its own process. `bench`: 1 GiB, 5 runs, 1000 images,
# 200 jobs; rewrites bench/RESULTS.md and bench/RESULTS.svg. `bench-quick`: 64 MiB, 1 run, 200
# images, 20 jobs; CI's smoke test: prints the table, fails only when an operation fails.
# Both install what they need and write bench/results/ (results.json, results.md, chart.svg).
.PHONY: bench bench-quick
bench:
	bench/run --publish

bench-quick:
	bench/run --quick

install: $(CORE)
	install -d $(DESTDIR)$(PREFIX)/lib/lua/5.4/ims $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/images \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/cloudimages $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/obs \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/cli
	install -m 0755 $(CORE) $(DESTDIR)$(PREFIX)/lib/lua/5.4/ims/core.so
	install -m 0644 lua/ims/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/
	install -m 0644 lua/ims/images/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/images/
	install -m 0644 lua/ims/cloudimages/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/cloudimages/
	install -m 0644 lua/ims/obs/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/obs/
	install -m 0644 lua/ims/cli/*.lua $(DESTDIR)$(PREFIX)/share/lua/5.4/ims/cli/

uninstall:
	rm -rf $(DESTDIR)$(PREFIX)/lib/lua/5.4/ims $(DESTDIR)$(PREFIX)/share/lua/5.4/ims

clean:
	rm -rf $(BUILD) lua_modules ims src/*.o
