# ambit — build, test, demo. `make` builds everything into build/; see README.md.
# Sources are found by directory so a new .c file needs no Makefile change.

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
O := build
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
CFLAGS += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuserspace/lib -Iuserspace/agent -Iwaypoint -I$(O) \
	-MMD -MP
LDLIBS := -lbpf -lelf -lz -lssl -lcrypto -lnghttp2 -lyaml -lcjson -lmicrohttpd -lcurl -lpcre2-8 -lxxhash -lm \
	-lpthread
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(O) -Iinclude -Ibpf

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(wildcard userspace/lib/*.c)
OBJ := $(O)/obj
LIB_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS))
AGENT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard userspace/agent/*.c))
CLI_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard userspace/cli/*.c))
ZT_SRCS := $(wildcard ztunnel/*.c)
ZT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(ZT_SRCS))
ZT_LIB_OBJS := $(filter-out $(OBJ)/ztunnel/main.o,$(ZT_OBJS))
AGENT_LIB_OBJS := $(filter-out $(OBJ)/userspace/agent/main.o,$(AGENT_OBJS))
# The waypoint's decision modules (the proxy runtime and its main.c come later).
WP_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard waypoint/*.c))
WP_LIB_OBJS := $(filter-out $(OBJ)/waypoint/main.o,$(WP_OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(OBJ)/tests/unit/%.o,$(UNIT_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TESTLIB_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/lib/*.c))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(O)/tests/bpf_%,$(BPFT_SRCS))
# Named only as pattern prerequisites, they would be deleted as intermediates and rebuilt each run.
.SECONDARY: $(WP_LIB_OBJS) $(TESTLIB_OBJS) $(BPF_OBJS)

BINS := $(O)/ambit-agent $(O)/ambitctl $(O)/ztunnel $(O)/hbone-probe

.PHONY: all deps test unit bpf-test bookinfo-test integration demo bench clean format format-check
all: $(BINS) $(UNIT_BINS) $(BPFT_BINS)

deps:
	@bash tools/install-deps.sh

$(O)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(O)/bpf/%.bpf.o: bpf/%.bpf.c $(O)/vmlinux.h $(wildcard bpf/lib/*.h include/ambit/*.h)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(O)/%.skel.h: $(O)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# Only the loader (agent) and the BPF tests include skeletons; the rest builds without clang.
BPFT_OBJS := $(patsubst tests/bpf/%.c,$(OBJ)/tests/bpf/%.o,$(BPFT_SRCS))
$(AGENT_OBJS) $(BPFT_OBJS) $(UNIT_OBJS): | $(SKELS)

$(O)/libambit.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

$(O)/ambit-agent: $(AGENT_OBJS) $(O)/libambit.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(O)/ambitctl: $(CLI_OBJS) $(O)/libambit.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(O)/ztunnel: $(ZT_OBJS) $(O)/libambit.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/hbone-probe: $(OBJ)/tools/hbone-probe.o
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(O)/libagent.a: $(AGENT_LIB_OBJS)
	$(AR) rcs $@ $^

# Tests link the library and the agent's, ztunnel's and waypoint's modules (all but main.c).
$(O)/tests/%: $(OBJ)/tests/unit/%.o $(TESTLIB_OBJS) $(ZT_LIB_OBJS) $(WP_LIB_OBJS) $(O)/libagent.a \
		$(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@
$(O)/tests/bpf_%: $(OBJ)/tests/bpf/%.o $(TESTLIB_OBJS) $(O)/libagent.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcmocka -o $@

unit: $(UNIT_BINS)
	@bash tests/run-unit.sh $(UNIT_BINS)

bpf-test: $(BPFT_BINS)
	@bash tests/run-unit.sh $(BPFT_BINS)

# The bookinfo example's services on loopback, with stubs: no cluster, no root.
bookinfo-test:
	@python3 tests/examples/test_bookinfo.py

integration: $(BINS)
	@bash tests/integration/run.sh

test: deps
	@bash tools/format-check.sh
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) bpf-test
	$(MAKE) bookinfo-test
	$(MAKE) integration
	$(MAKE) bench QUICK=1

# Benchmarks (tools/bench/run.sh; QUICK=1 is the smoke run `make test` ends with).
$(O)/bench-holdconns: tools/bench/holdconns.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

bench: deps
	$(MAKE) $(BINS) $(O)/bench-holdconns
	@QUICK=$(QUICK) bash tools/bench/run.sh

# Policy benchmark (not a test): 10,000 workloads x 10,000 policies, compile and decision times.
.PHONY: bench-policy
$(O)/bench-policy: tools/bench/policy-bench.c $(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(O)/libambit.a $(LDLIBS) -o $@

bench-policy: $(O)/bench-policy
	@$(O)/bench-policy

demo: deps
	$(MAKE) $(BINS)
	@bash examples/demo/run.sh

# `make install [PREFIX=/usr/local] [DESTDIR=]`: ambitctl on PATH; the agent and the ztunnel,
# which ambitctl starts, in libexec/ambit, where ambitctl looks first (relative to itself, so a
# DESTDIR tree works as is).
PREFIX ?= /usr/local
BINDIR := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/ambit
.PHONY: install uninstall
install: $(O)/ambitctl $(O)/ambit-agent $(O)/ztunnel
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(O)/ambitctl $(DESTDIR)$(BINDIR)/ambitctl
	install -m 0755 $(O)/ambit-agent $(O)/ztunnel $(DESTDIR)$(LIBEXECDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/ambitctl $(DESTDIR)$(LIBEXECDIR)/ambit-agent \
		$(DESTDIR)$(LIBEXECDIR)/ztunnel
	-rmdir $(DESTDIR)$(LIBEXECDIR) 2>/dev/null

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	@bash tools/format-check.sh

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
