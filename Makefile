# Skagerrak — build, test, demo, install.  Plain make + pkg-config.
#
#   make            daemon + plugins (build/)
#   make check-layers  the core's rooms include only their own and lower rooms' headers
#                   (docs/architecture.md)
#   make test       install missing Debian packages, the layer check, build, unit tests (plain and
#                   ASan+UBSan), integration tests against real servers
#   make run        the demo: local Prosody + gateway + channels
#   make soak       the fault-injection suite with more rounds (SOAK_ROUNDS=5)
#   make bench      benchmarks (bench/README.md)
#   make install    PREFIX=/usr/local DESTDIR=   (give the same PREFIX when building: the
#                   plugin and catalogue directories are compiled in as defaults)

PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
LIBDIR   = $(PREFIX)/lib/skagerrak
SHAREDIR = $(PREFIX)/share/skagerrak
SYSCONF ?= /etc/skagerrak
MANDIR   = $(PREFIX)/share/man

CC      ?= cc
PKGS     = libstrophe libconfig sqlite3 libmicrohttpd jansson libcurl openssl
PLUGIN_PKGS = $(PKGS) gmime-3.0
SAN     ?= 0
BUILD   ?= build

WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fno-strict-aliasing $(WARN) \
           -DGW_VERSION=\"$(VERSION)\" -DGW_LIBDIR=\"$(LIBDIR)\" -DGW_SHAREDIR=\"$(SHAREDIR)\"
LDLIBS  += -ldl -lm
ifeq ($(SAN),1)
  BUILD   = build/san
  CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=address,undefined
endif
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0)

CORE_CFLAGS   = $(CFLAGS) -Igateway $(shell pkg-config --cflags $(PKGS))
CORE_LIBS     = $(shell pkg-config --libs $(PKGS)) $(LDLIBS)
# Plugins see one header of the core, gateway/host/plugin_api.h, and nothing else of it.
PLUGIN_CFLAGS = $(CFLAGS) -fPIC -fvisibility=hidden -Igateway/host $(shell pkg-config --cflags $(PLUGIN_PKGS))
PLUGIN_LIBS   = $(shell pkg-config --libs $(PLUGIN_PKGS)) -lm

# The core: gateway/main.c and the rooms gateway/<room>/ (docs/architecture.md; their order
# is defined in scripts/check-layers.sh, which also rejects a folder it does not know).
CORE_SRC  = $(wildcard gateway/*/*.c)
CORE_HDR  = $(wildcard gateway/*.h gateway/*/*.h)
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/%.o)
PLUGINS   = $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/plugin.c))))
PLUGIN_SO = $(PLUGINS:%=$(BUILD)/plugins/%.so)
TOOLS_SRC = $(wildcard tools/*.c)
TOOLS     = $(TOOLS_SRC:tools/%.c=$(BUILD)/%)

UNIT_CORE_SRC   = $(wildcard tests/unit/test_*.c)
UNIT_CORE       = $(UNIT_CORE_SRC:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_PLUGIN_SRC = $(wildcard tests/unit/*/test_*.c)
UNIT_PLUGIN     = $(UNIT_PLUGIN_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_PLUGIN_SO  = $(patsubst tests/plugins/%/plugin.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*/plugin.c))
FAKEHOST_OBJ    = $(patsubst tests/unit/%.c,$(BUILD)/tests/%.o,$(wildcard tests/unit/fakehost/*.c))

.PHONY: all test check-layers check-man unit integration soak run bench install clean deps check-format format
# Keep intermediate objects (plugins' .o files would otherwise be deleted after each link).
.SECONDARY:
all: $(BUILD)/skagerrak $(PLUGIN_SO) $(TOOLS) $(TEST_PLUGIN_SO)

$(BUILD)/libgw.a: $(CORE_OBJ)
	$(AR) rcs $@ $^

$(BUILD)/skagerrak: $(BUILD)/gateway/main.o $(BUILD)/libgw.a
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(CORE_LIBS)

$(BUILD)/gateway/%.o: gateway/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -c -o $@ $<

# Each plugins/<name>/ directory with a plugin.c becomes $(BUILD)/plugins/<name>.so.
# (The objects are computed by a function: a literal % in a pattern rule's prerequisites
# would be replaced by the stem.)
objs_of = $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c))
.SECONDEXPANSION:
$(BUILD)/plugins/%.so: $$(call objs_of,plugins/$$*)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(PLUGIN_LIBS)

$(BUILD)/plugins/%.o: plugins/%.c $$(wildcard $$(dir plugins/%)*.h) gateway/host/plugin_api.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -c -o $@ $<

# Test-only plugins (tests/plugins/<name>/plugin.c).
$(BUILD)/tests/plugins/%.so: $$(call objs_of,tests/plugins/$$*)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -shared -o $@ $^ $(PLUGIN_LIBS)

$(BUILD)/tests/plugins/%.o: tests/plugins/%.c gateway/host/plugin_api.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -c -o $@ $<

$(BUILD)/%: tools/%.c $(BUILD)/libgw.a
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libgw.a $(CORE_LIBS) $(shell pkg-config --cflags --libs gmime-3.0)

# Core unit tests link the core library; plugin unit tests (tests/unit/<plugin>/) link
# that plugin's objects and the fake host (tests/unit/fakehost.h, its parts in
# tests/unit/fakehost/), as does test_fakehost, which proves the fake host.
$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libgw.a
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) -Itests/unit -Igateway/host $(LDFLAGS) -o $@ $< $(BUILD)/libgw.a $(CORE_LIBS) -lcmocka

$(BUILD)/tests/%: tests/unit/%.c $$(call objs_of,plugins/$$(firstword $$(subst /, ,$$*))) $(FAKEHOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -fvisibility=default -Itests/unit -Iplugins/$(firstword $(subst /, ,$*)) $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS) $(LDLIBS) -lcmocka

$(BUILD)/tests/test_fakehost: tests/unit/test_fakehost.c $(FAKEHOST_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -fvisibility=default -Itests/unit $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS) $(LDLIBS) -lcmocka

$(BUILD)/tests/fakehost/%.o: tests/unit/fakehost/%.c tests/unit/fakehost/priv.h tests/unit/fakehost.h gateway/host/plugin_api.h
	@mkdir -p $(dir $@)
	$(CC) $(PLUGIN_CFLAGS) -fvisibility=default -Itests/unit -c -o $@ $<

unit: $(UNIT_CORE) $(UNIT_PLUGIN) $(TEST_PLUGIN_SO)
	@scripts/run-unit.sh $(UNIT_CORE) $(UNIT_PLUGIN)

# Dependencies between the core's rooms point one way (docs/architecture.md).
check-layers:
	@scripts/check-layers.sh

# The man pages render without a warning (man-db's groff run, as `man -l` shows them).
check-man:
	@for m in docs/man/*.[0-9]; do \
	  w=$$(MANWIDTH=80 man --warnings -l "$$m" 2>&1 >/dev/null); \
	  if [ -n "$$w" ]; then echo "$$m:"; echo "$$w"; exit 1; fi; done; echo "check-man: ok"

deps:
	@scripts/setup-deps.sh

# The README's test command.  Everything it needs is installed and started from here.
test: deps
	$(MAKE) check-layers
	$(MAKE) check-man
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) SAN=1 all
	$(MAKE) SAN=1 unit
	SKAGERRAK_BUILD=build/san scripts/run-integration.sh
	SKAGERRAK_BUILD=build/san tests/browser/run.sh

integration: all
	scripts/run-integration.sh

# The fault-injection suite (tests/integration/test_faults.py, part of `make test`) with more
# rounds: more kill -9s, fill/free cycles, outages, Prosody restarts and SIGSTOPs.
SOAK_ROUNDS ?= 5
soak: deps
	$(MAKE) SAN=1 all
	SKAGERRAK_FAULTS_ROUNDS=$(SOAK_ROUNDS) SKAGERRAK_BUILD=build/san \
	    SKAGERRAK_RUN_TIMEOUT=$$((900 * $(SOAK_ROUNDS))) \
	    scripts/run-integration.sh tests/integration/test_faults.py

run: deps all
	scripts/demo.sh

bench: deps all
	scripts/bench.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SHAREDIR)/i18n $(DESTDIR)$(SYSCONF)
	install -m 0755 $(BUILD)/skagerrak $(DESTDIR)$(BINDIR)/skagerrak
	$(foreach t,$(TOOLS),install -m 0755 $(t) $(DESTDIR)$(BINDIR)/;)
	$(foreach p,$(PLUGIN_SO),install -m 0644 $(p) $(DESTDIR)$(LIBDIR)/;)
	install -m 0644 conf/i18n/*.cfg $(DESTDIR)$(SHAREDIR)/i18n/
	install -d $(DESTDIR)$(MANDIR)/man8
	install -m 0644 docs/man/*.8 $(DESTDIR)$(MANDIR)/man8/
	if [ -d plugins/webchat/static ]; then cp -r plugins/webchat/static $(DESTDIR)$(SHAREDIR)/webchat; fi
	install -m 0640 conf/skagerrak.cfg.example $(DESTDIR)$(SYSCONF)/skagerrak.cfg.example
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|/usr/local|$(PREFIX)|g' conf/skagerrak.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/skagerrak.service

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

# Benchmark programs (bench/README.md): bench/zerowork (the zero-work reference component)
# and bench/loadgen (the load generator, from its parts bench/loadgen_*.c); scripts/bench.sh
# builds them.
bench/%: bench/%.c
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libstrophe) $(LDFLAGS) -o $@ $< $(shell pkg-config --libs libstrophe)
bench/loadgen: $(wildcard bench/loadgen_*.c) bench/loadgen.h
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libstrophe) $(LDFLAGS) -o $@ $(filter %.c,$^) $(shell pkg-config --libs libstrophe)

# The web chat widget: plugins/webchat/static/widget.js, the one file the gateway serves, is
# concatenated from its modules (plugins/webchat/widget/NN-*.js, scripts/bundle-widget.sh).
# The bundle stays committed where it always was, so the static directory that `make run`,
# `make install` and the tests use is unchanged; the modules live outside it, so they are
# neither served nor installed.  widget-check (part of `make unit`) fails when widget.js was
# edited by hand instead of its modules.
WIDGET_SRC = $(sort $(wildcard plugins/webchat/widget/[0-9][0-9]-*.js))
.PHONY: widget-check
all: plugins/webchat/static/widget.js
unit: widget-check
plugins/webchat/static/widget.js: $(WIDGET_SRC) scripts/bundle-widget.sh
	scripts/bundle-widget.sh $(WIDGET_SRC) > $@.tmp && mv $@.tmp $@
widget-check: plugins/webchat/static/widget.js
	@scripts/bundle-widget.sh $(WIDGET_SRC) | cmp -s - $< || \
	    { echo "$< differs from its modules in plugins/webchat/widget/: edit those, then make"; exit 1; }
