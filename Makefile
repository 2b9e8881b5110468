# ambit — build, test, demo. `make` builds everything into build/; see README.md.
# Sources are found by directory so a new .c file needs no Makefile change.

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
O := build
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

WARN := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS ?= -O2 -g
# userspace/ is one folder a concern (docs/INTERNALS.md, "Layout"); each archive or binary takes
# whole folders. Folders are namespaces: the include path has only the roots, so a header of
# another folder is named with its folder ("net/buf.h"), and one of the same folder by its name
# (tools/cycle-check.sh reads the includes too). ztunnel/ and waypoint/ include their own by name;
# tests reach them by path ("../../waypoint/engine/proxy.h"); the waypoint's engine (waypoint/engine/)
# reaches the decisions beside it as "../route.h".
LIB_DIRS := lib decode kinds config analyze l4 l7 k8s wire policy
NET_DIRS := net tls http hbone
AGENT_DIRS := agent podnet control
CLI_DIRS := cli local install kubelet dashboard istioctl multicluster
srcs_in = $(foreach d,$(1),$(wildcard userspace/$(d)/*.c))
CFLAGS += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuserspace -I$(O) -I$(O)/proto -MMD -MP
LDLIBS := -lbpf -lmnl -lelf -lz -lssl -lcrypto -lnghttp2 -lyaml -lcjson -lcjose -lmicrohttpd -lcurl -lpcre2-8 -lxxhash -lm \
	-lprotobuf-c -lldns -luring -lpthread
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -I$(O) -Iinclude -Ibpf

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(O)/%.skel.h,$(BPF_SRCS))

LIB_SRCS := $(call srcs_in,$(LIB_DIRS))
OBJ := $(O)/obj
LIB_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(LIB_SRCS))
AGENT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(call srcs_in,$(AGENT_DIRS)))
CLI_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(call srcs_in,$(CLI_DIRS)))
ZT_SRCS := $(wildcard ztunnel/*.c)
ZT_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(ZT_SRCS))
ZT_LIB_OBJS := $(filter-out $(OBJ)/ztunnel/main.o,$(ZT_OBJS))
AGENT_LIB_OBJS := $(filter-out $(OBJ)/userspace/agent/main.o,$(AGENT_OBJS))
# The waypoint: its decision modules, request engine and workers; main.c only in the binary.
WP_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard waypoint/*.c waypoint/engine/*.c))
WP_LIB_OBJS := $(filter-out $(OBJ)/waypoint/main.o,$(WP_OBJS))

# The proxies' shared runtime (DESIGN.md §9), with llhttp compiled from Debian's node-llhttp
# sources (the package ships them instead of a shared library).
LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
NET_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(call srcs_in,$(NET_DIRS)))
LLHTTP_OBJS := $(OBJ)/llhttp/api.o $(OBJ)/llhttp/http.o $(OBJ)/llhttp/llhttp.o

# The ext_authz gRPC messages (proto/, Envoy's names and numbers): their C made by protoc-c into
# build/proto at build time and linked with the runtime (libnet.a); only
# waypoint/extauthz_grpc.c includes it.
PROTO_SRCS := $(shell find proto -name '*.proto')
PROTO_C := $(patsubst proto/%.proto,$(O)/proto/%.pb-c.c,$(PROTO_SRCS))
PROTO_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(PROTO_C))

# The unit tests mirror the tree: tests/unit/<folder>/test_<module>.c tests
# userspace/<folder>/<module>.c (or ztunnel/<module>.c, waypoint/<module>.c,
# waypoint/engine/<module>.c), a suffix naming the part where several tests share a module
# (test_dns6.c); each is built as build/tests/<folder>/test_<module>. Fixtures stay in
# tests/unit/fixtures/, read from the repository root.
UNIT_SRCS := $(wildcard tests/unit/*/test_*.c tests/unit/*/*/test_*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(OBJ)/tests/unit/%.o,$(UNIT_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRCS))
TESTLIB_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/lib/*.c))
BPFT_SRCS := $(wildcard tests/bpf/test_*.c)
BPFT_BINS := $(patsubst tests/bpf/%.c,$(O)/tests/bpf_%,$(BPFT_SRCS))
# Named only as pattern prerequisites, they would be deleted as intermediates and rebuilt each run.
.SECONDARY: $(WP_LIB_OBJS) $(TESTLIB_OBJS) $(BPF_OBJS)

BINS := $(O)/ambit-agent $(O)/ambitctl $(O)/istioctl $(O)/ztunnel $(O)/waypoint $(O)/hbone-probe \
	$(O)/connflood $(O)/ambit-cni

.PHONY: all deps test unit bpf-test bookinfo-test l7conf integration selftest demo bench clean format image \
	format-check
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

# Any object may include the messages protoc-c makes (proto/): they exist before it compiles.
$(OBJ)/%.o: %.c | $(O)/proto/.stamp
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

# --version: the tree's `git describe`, rebuilt into version.o only when it changes.
VERSION := $(shell git describe --always --dirty --tags 2>/dev/null || echo dev)
$(O)/version.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' > $@
$(OBJ)/userspace/lib/version.o: $(O)/version.stamp
$(OBJ)/userspace/lib/version.o: CFLAGS += -DAMBIT_VERSION='"$(VERSION)"'
.PHONY: FORCE
FORCE:

# Only the loader (agent), the tests and their helpers (tests/lib/steer_fixture.c) include
# skeletons; the rest builds without clang.
BPFT_OBJS := $(patsubst tests/bpf/%.c,$(OBJ)/tests/bpf/%.o,$(BPFT_SRCS))
$(AGENT_OBJS) $(BPFT_OBJS) $(UNIT_OBJS) $(TESTLIB_OBJS): | $(SKELS)

# Made afresh, as the fuzz archives: a module that moved must not linger in the archive.
$(O)/libambit.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# The archives depend on each other (the runtime logs through libambit; the CA and the config's
# base64 go through the runtime's OpenSSL seam), so they are linked as one group.
LINK = $(CC) $(LDFLAGS) $(filter-out %.a,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
	$(LDLIBS)

$(O)/ambit-agent: $(AGENT_OBJS) $(OBJ)/deploy/waypoint_tmpl.o $(OBJ)/deploy/gateway_tmpl.o $(OBJ)/deploy/eastwest_tmpl.o $(O)/libnet.a $(O)/libambit.a
	$(LINK) -o $@
# deploy/ambit.yaml.tmpl, built into ambitctl (`ambitctl install`) as _binary_deploy_..._start;
# deploy/waypoint.yaml.tmpl into the agent (its waypoint controller).
$(OBJ)/deploy/%_tmpl.o: deploy/%.yaml.tmpl
	@mkdir -p $(dir $@)
	ld -r -b binary -z noexecstack -o $@ $<
# deploy/observability/*.yml: the local cluster's Prometheus configuration and the mesh's rules.
$(OBJ)/deploy/observability/%_yml.o: deploy/observability/%.yml
	@mkdir -p $(dir $@)
	ld -r -b binary -z noexecstack -o $@ $<
# `ambitctl dashboard`'s page (dashboard/web) and libraries, from npm as
# dashboard/package-lock.json pins them, built into ambitctl: it serves them with no network.
DASH_MODULES := dashboard/node_modules/.package-lock.json
DASH_LIBS := dashboard/node_modules/cytoscape/dist/cytoscape.min.js \
	dashboard/node_modules/chart.js/dist/chart.umd.js dashboard/node_modules/layout-base/layout-base.js \
	dashboard/node_modules/cose-base/cose-base.js \
	dashboard/node_modules/cytoscape-fcose/cytoscape-fcose.js \
	dashboard/node_modules/marked/lib/marked.umd.js
DASH_OBJS := $(patsubst %,$(OBJ)/%.o,$(wildcard dashboard/web/*.html dashboard/web/*.js \
	dashboard/web/*.css) $(DASH_LIBS))
$(DASH_MODULES): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $@
$(DASH_LIBS): $(DASH_MODULES)
$(OBJ)/dashboard/%.o: dashboard/%
	@mkdir -p $(dir $@)
	ld -r -b binary -z noexecstack -o $@ $<
# ambitctl check judges L7 with the waypoint's own code (userspace/cli/check_l7.c).
$(O)/ambitctl: $(CLI_OBJS) $(OBJ)/deploy/ambit_tmpl.o $(OBJ)/deploy/ingress_tmpl.o \
	$(OBJ)/deploy/observability/prometheus_yml.o $(OBJ)/deploy/observability/rules_yml.o \
	$(DASH_OBJS) $(WP_LIB_OBJS) $(O)/libagent.a $(O)/libnet.a \
	$(O)/libambit.a
	$(LINK) -o $@
# istioctl is ambitctl under istioctl's name (userspace/istioctl/entry.c): a link, one binary.
$(O)/istioctl: $(O)/ambitctl
	ln -sf ambitctl $@
$(O)/ztunnel: $(ZT_OBJS) $(O)/libnet.a $(O)/libambit.a
	$(LINK) -o $@
# The chained CNI plugin (userspace/cni): the protocol and the agent's socket (libambit's ipc.c).
CNI_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard userspace/cni/*.c))
$(O)/ambit-cni: $(CNI_OBJS) $(O)/libnet.a $(O)/libambit.a
	$(LINK) -o $@
$(O)/waypoint: $(WP_OBJS) $(O)/libnet.a $(O)/libambit.a
	$(LINK) -o $@

$(O)/hbone-probe: $(OBJ)/tools/hbone-probe.o
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(O)/connflood: $(OBJ)/tools/connflood.o
	$(CC) $(LDFLAGS) $^ -o $@

$(O)/libagent.a: $(AGENT_LIB_OBJS) $(OBJ)/deploy/waypoint_tmpl.o $(OBJ)/deploy/gateway_tmpl.o $(OBJ)/deploy/eastwest_tmpl.o
	rm -f $@
	$(AR) rcs $@ $^

$(OBJ)/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CC) $(filter -O% -g -fsanitize% -fno-omit-frame-pointer,$(CFLAGS)) -I$(LLHTTP_INC) -c $< -o $@
$(OBJ)/userspace/http/http1.o: CFLAGS += -I$(LLHTTP_INC)
$(O)/libnet.a: $(NET_OBJS) $(LLHTTP_OBJS) $(PROTO_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# One protoc-c run makes every file; the stamp stands for them all.
$(O)/proto/.stamp: $(PROTO_SRCS)
	@mkdir -p $(@D)
	cd proto && protoc-c --c_out=$(abspath $(O)/proto) $(patsubst proto/%,%,$(PROTO_SRCS))
	@touch $@
$(PROTO_C) $(PROTO_C:.c=.h): $(O)/proto/.stamp
.SECONDARY: $(PROTO_C) $(PROTO_C:.c=.h)

# Test helpers as an archive: a test links only those it uses (the BPF tests lack the ztunnel).
$(O)/libtest.a: $(TESTLIB_OBJS)
	$(AR) rcs $@ $^

# Tests link the library and the agent's, ztunnel's and waypoint's modules (all but main.c).
$(O)/tests/%: $(OBJ)/tests/unit/%.o $(O)/libtest.a $(ZT_LIB_OBJS) $(WP_LIB_OBJS) $(O)/libagent.a \
		$(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(LINK) -lcmocka -o $@
$(O)/tests/bpf_%: $(OBJ)/tests/bpf/%.o $(O)/libtest.a $(O)/libagent.a $(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(LINK) -lcmocka -o $@

# The --kube mirror's objects: the one module of ambitctl a unit test links (it does no I/O).
$(O)/tests/local/test_kmirror_obj: $(OBJ)/userspace/local/kmirror_obj.o
# The local cluster's Service VIPs (no I/O), with the addresses' IPv6 twins (cluster.c).
$(O)/tests/local/test_plan_vip: $(addprefix $(OBJ)/userspace/local/,plan_vip.o cluster.o util.o)
# `ambitctl nodes`' rendering (no I/O), linked by the node Lease's unit test.
$(O)/tests/k8s/test_klease: $(OBJ)/userspace/cli/nodes_fmt.o
# `ambitctl get`'s kinds, columns and table (no I/O).
$(O)/tests/cli/test_getcols: $(OBJ)/userspace/cli/getcols.o
# `ambitctl services`' ports and endpoints of both families (no I/O).
$(O)/tests/cli/test_svcfmt: $(OBJ)/userspace/cli/svcfmt.o
# The remote secret and `remote-clusters`' rows (no I/O), with the fabric's LoadBalancer address
# (cluster.c).
$(O)/tests/multicluster/test_secret: $(addprefix $(OBJ)/userspace/,multicluster/secret.o \
	local/cluster.o local/util.o)
$(O)/tests/multicluster/test_clusters: $(OBJ)/userspace/multicluster/clusters.o
# istioctl's grammar and words (no I/O).
$(O)/tests/istioctl/test_words: $(OBJ)/userspace/istioctl/words.o
# ambit-cni's protocol (its main.c aside), run against an agent the test plays.
$(O)/tests/cni/test_cni: $(OBJ)/userspace/cni/cni.o $(OBJ)/userspace/cni/apijudge.o
# `local port-forward`'s arguments, read as kubectl reads them (no I/O).
$(O)/tests/cli/test_portfwd_spec: $(OBJ)/userspace/cli/portfwd_spec.o
# The dashboard's trace receiver: its decoders and store (no I/O), linked by its unit test and
# its fuzz target.
DASH_TRACE_SRCS := $(addprefix userspace/dashboard/,traces.c traces_json.c trace_store.c guard.c)
$(O)/tests/dashboard/test_traces: $(patsubst %.c,$(OBJ)/%.o,$(DASH_TRACE_SRCS))
$(O)/tests/dashboard/test_guard: $(patsubst %.c,$(OBJ)/%.o,$(DASH_TRACE_SRCS))
# Grafana's dashboards listed and the Prometheus calls of their panels checked (no network).
$(O)/tests/dashboard/test_grafana: $(OBJ)/userspace/dashboard/grafana.o
$(O)/tests/dashboard/test_provision: $(addprefix $(OBJ)/userspace/dashboard/,provision.o grafana.o)

unit: $(UNIT_BINS)
	@bash tests/run-unit.sh $(UNIT_BINS)

bpf-test: $(BPFT_BINS)
	@bash tests/run-unit.sh $(BPFT_BINS)

# The runners themselves: a skip is reported with its reason, and fails where nothing may be
# missing (tests/lib/skip-policy.sh); the Istio samples test fails without its samples.
$(O)/tests/selftest_skip: tests/selftest/skip_case.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -lcmocka -o $@

selftest: all $(O)/tests/selftest_skip $(O)/tests/config/test_load
	@bash tests/selftest/runners.sh $(O)

# The bookinfo example's services on loopback, with stubs: no cluster, no root.
bookinfo-test:
	@python3 tests/examples/test_bookinfo.py

# The L7 engine's conformance suite (tests/l7conf): raw bytes through build/waypoint to a backend
# that records what it receives, on loopback. Debian's python3 (python3-hpack for HTTP/2).
l7conf: $(O)/waypoint $(O)/ambitctl
	@/usr/bin/python3 tests/l7conf/l7conf.py

integration: $(BINS)
	@bash tests/integration/run.sh

# Everything `make test` runs is built first, over every core (JOBS): serially the build and the
# fuzz targets' instrumented build took 7.5 of its minutes here, over two cores 4.
JOBS ?= $(shell nproc)
# Each phase's start is logged with the time (UTC), so a CI log says where its minutes went.
phase = @echo "== make test: $(1) at $$(date -u +%T)"
test: deps
	$(call phase,checks)
	@bash tools/format-check.sh
	@bash tools/seam-check.sh
	$(call phase,build)
	$(MAKE) -j$(JOBS) all fuzz-build
	@bash tools/cycle-check.sh
	$(call phase,selftest)
	$(MAKE) selftest
	@# Two at a time, each one's output whole once it ends: the fuzz targets (one core, 2 s each)
	@# beside the rest, mostly waits. After selftest, whose runs check for leftovers on the host
	@# (the unit and bpf tests' network namespaces, while they run), and before the clusters.
	$(call phase,unit fuzz bpf l7conf)
	$(MAKE) -j2 --output-sync=target fuzz-smoke unit bpf-test bookinfo-test l7conf
	$(call phase,integration)
	$(MAKE) integration
	$(call phase,smoke bench)
	$(MAKE) bench QUICK=1 SMOKE=1
	$(call phase,done)

# ---- fuzzing: libFuzzer targets tests/fuzz/fuzz_*.c, ASan + UBSan (any UB aborts), built with
# clang; the modules they reach are compiled again, instrumented, into build/fuzz/. Every target
# runs briefly in `make test` (fuzz-smoke) and for FUZZ_SECONDS each in `make fuzz`
# (tests/fuzz/run.sh); seeds in tests/fuzz/corpus/<target>/.
FUZZ_O := $(O)/fuzz
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude -Iuserspace -I$(O) \
	-I$(O)/proto -I$(LLHTTP_INC) -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -MMD -MP
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(FUZZ_O)/,$(FUZZ_TARGETS))
fobj = $(patsubst %.c,$(FUZZ_O)/obj/%.o,$(1))
FUZZ_ARCHIVES := $(FUZZ_O)/libtest.a $(FUZZ_O)/libzt.a $(FUZZ_O)/libwp.a $(FUZZ_O)/libagent.a \
	$(FUZZ_O)/libnet.a $(FUZZ_O)/libambit.a

$(FUZZ_O)/obj/%.o: %.c | $(SKELS) $(O)/proto/.stamp
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@
# llhttp's generated C, instrumented too (the HTTP/1 parser's depth is in it), without our -W set.
$(FUZZ_O)/obj/llhttp/%.o: $(LLHTTP_DIR)/%.c
	@mkdir -p $(@D)
	$(CLANG) $(filter-out $(WARN),$(FUZZ_CFLAGS)) -c $< -o $@
$(FUZZ_O)/libtest.a: $(call fobj,$(wildcard tests/lib/*.c))
$(FUZZ_O)/libzt.a: $(call fobj,$(filter-out ztunnel/main.c,$(ZT_SRCS)))
$(FUZZ_O)/libwp.a: $(call fobj,$(filter-out waypoint/main.c,$(wildcard waypoint/*.c waypoint/engine/*.c)))
$(FUZZ_O)/libagent.a: $(call fobj,$(filter-out userspace/agent/main.c,$(call srcs_in,$(AGENT_DIRS)))) \
	$(OBJ)/deploy/waypoint_tmpl.o $(OBJ)/deploy/gateway_tmpl.o $(OBJ)/deploy/eastwest_tmpl.o
$(FUZZ_O)/libnet.a: $(call fobj,$(call srcs_in,$(NET_DIRS))) \
	$(patsubst $(OBJ)/%,$(FUZZ_O)/obj/%,$(LLHTTP_OBJS)) $(call fobj,$(PROTO_C))
$(FUZZ_O)/libambit.a: $(call fobj,$(LIB_SRCS))
# Made afresh: a module that moved or went away must not linger in the archive.
$(FUZZ_ARCHIVES):
	rm -f $@
	$(AR) rcs $@ $^
# A target links only the archive members it reaches (one group: the archives use each other),
# and the objects named as its prerequisites below.
$(FUZZ_O)/%: $(FUZZ_O)/obj/tests/fuzz/%.o $(FUZZ_ARCHIVES)
	$(CLANG) -fsanitize=fuzzer,address,undefined $(filter %.o,$^) -Wl,--start-group \
		$(FUZZ_ARCHIVES) -Wl,--end-group $(LDLIBS) -o $@
.SECONDARY: $(patsubst %,$(FUZZ_O)/obj/tests/fuzz/%.o,$(FUZZ_TARGETS))
$(FUZZ_O)/fuzz_trace_ingest: $(call fobj,$(DASH_TRACE_SRCS))
$(FUZZ_O)/fuzz_prom_args: $(call fobj,userspace/dashboard/grafana.c)
$(FUZZ_O)/fuzz_grafana_provision: $(call fobj,userspace/dashboard/provision.c userspace/dashboard/grafana.c userspace/local/objstore.c)
$(FUZZ_O)/fuzz_cni: $(call fobj,userspace/cni/cni.c userspace/cni/apijudge.c)

# The binary seeds (tests/fuzz/gen_seeds.c), regenerated on request only: they are committed.
$(O)/tests/fuzz_gen_seeds: $(OBJ)/tests/fuzz/gen_seeds.o $(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(LINK) -o $@

.PHONY: fuzz-build fuzz fuzz-smoke fuzz-seeds
fuzz-seeds: $(O)/tests/fuzz_gen_seeds
	$< tests/fuzz/corpus
fuzz-build: $(FUZZ_BINS)
# FUZZ_SECONDS per target (default 300), FUZZ_TARGETS="fuzz_x ..." to choose.
fuzz: fuzz-build
	@FUZZ_SECONDS=$${FUZZ_SECONDS:-300} bash tests/fuzz/run.sh $(FUZZ_O) $(FUZZ_TARGETS)
fuzz-smoke: fuzz-build
	@FUZZ_FRESH=1 FUZZ_SECONDS=$${FUZZ_SMOKE_SECONDS:-2} bash tests/fuzz/run.sh $(FUZZ_O) $(FUZZ_TARGETS)

# Benchmarks (tools/bench/run.sh; QUICK=1 is the smoke run `make test` ends with).
$(O)/bench-holdconns: tools/bench/holdconns.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -o $@

$(O)/bench-ratehttp: tools/bench/ratehttp.c $(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -Wl,--start-group $(O)/libnet.a $(O)/libambit.a -Wl,--end-group $(LDLIBS) -o $@

$(O)/bench-dnsload: tools/bench/dnsload.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -lldns -o $@

$(O)/bench-sockperf6.so: tools/bench/sockperf6.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -shared -fPIC $< -ldl -o $@

BENCH_BINS := $(BINS) $(O)/bench-holdconns $(O)/bench-ratehttp $(O)/bench-l7-policy \
	$(O)/bench-dnsload $(O)/bench-sockperf6.so
# Each script a target of its own (bench-run ... bench-wire), run one after another by `make bench`.
# make test's smoke (SMOKE=1, QUICK=1) runs them two lines at a time (its numbers are not
# measurements, only proof that every script still runs; about 170 s of its 340 saved here; run.sh
# on seven of its eleven paths, each program once, 30 s less) and
# leaves to `make bench` the soaks (conns.sh; soak.sh, whose test t_21 the integration suite runs
# at 10,000 connections), the dashboard's drawing time (t_75 draws the same page in Chromium), and
# chain.sh and wire.sh (full runs only).
BENCH_PARTS := run l7 gateway tracing l7-policy kube dashboard dns multicluster udp conns soak \
	chain wire
BENCH_SMOKE_a := run kube tracing l7
BENCH_SMOKE_b := udp multicluster dns gateway l7-policy
bench_serial = for p in $(1); do $(MAKE) --no-print-directory bench-$$p || exit; done
bench: deps
	$(MAKE) $(BENCH_BINS)
ifeq ($(SMOKE),)
	+@$(call bench_serial,$(BENCH_PARTS))
else
	$(MAKE) -j2 --output-sync=target bench-smoke-a bench-smoke-b
endif
bench-smoke-a bench-smoke-b: bench-smoke-%:
	+@$(call bench_serial,$(BENCH_SMOKE_$*))
.PHONY: bench bench-smoke-a bench-smoke-b $(addprefix bench-,$(BENCH_PARTS))
# SMOKE=1: lat10k is lat1k's path at ten times the rate, tput8 tput1's with more streams, scale
# what t_21 holds by thousands.
bench-run:
	@QUICK=$(QUICK) $(if $(SMOKE),WORKLOADS="tput1 lat1k http connrate" \
		PATHS="nomesh ambit stunnel nginx relay ambit-local ambit6") bash tools/bench/run.sh
bench-l7 bench-gateway bench-tracing bench-kube bench-dns bench-multicluster bench-udp: bench-%:
	@QUICK=$(QUICK) bash tools/bench/$*.sh
bench-dashboard bench-conns bench-soak: bench-%:
	@[ -n "$(SMOKE)" ] || QUICK=$(QUICK) bash tools/bench/$*.sh
bench-chain bench-wire: bench-%:
	@[ -n "$(QUICK)" ] || bash tools/bench/$*.sh

# The agent<->proxy contract's codec at 10,000 pods (not a test): JSON (userspace/wire/) against a
# protobuf mirror of the same snapshot (tools/bench/wire/snapshot.proto), sizes and times; run by
# tools/bench/wire.sh.
WIREB_O := $(O)/bench/wire
$(WIREB_O)/snapshot.pb-c.c: tools/bench/wire/snapshot.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=tools/bench/wire --c_out=$(WIREB_O) $<
$(WIREB_O)/snapshot.pb-c.h: $(WIREB_O)/snapshot.pb-c.c
$(O)/bench-wire: $(addprefix tools/bench/wire/,bench.c gen.c pbconv.c bench.h) \
		$(WIREB_O)/snapshot.pb-c.c $(O)/libnet.a $(O)/libambit.a
	$(CC) $(CFLAGS) -I$(WIREB_O) -Itools/bench/wire $(filter %.c,$^) \
		-Wl,--start-group $(O)/libnet.a $(O)/libambit.a -Wl,--end-group $(LDLIBS) -o $@

# Policy benchmark (not a test): 10,000 workloads x 10,000 policies, compile and decision times.
.PHONY: bench-policy
$(O)/bench-policy: tools/bench/policy-bench.c $(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< -Wl,--start-group $(O)/libnet.a $(O)/libambit.a -Wl,--end-group $(LDLIBS) -o $@

bench-policy: $(O)/bench-policy
	@$(O)/bench-policy

# L7 policy benchmark (not a test): the waypoint's per-request decision at 10/100/1000 policies.
.PHONY: bench-l7-policy
$(O)/bench-l7-policy: tools/bench/l7-policy-bench.c $(WP_LIB_OBJS) $(O)/libnet.a $(O)/libambit.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $< $(WP_LIB_OBJS) -Wl,--start-group $(O)/libnet.a \
		$(O)/libambit.a -Wl,--end-group $(LDLIBS) -o $@

bench-l7-policy: $(O)/bench-l7-policy
	@if [ -z "$(QUICK)" ]; then { printf '# L7 policy decision at the waypoint (%s, %s)\n\n' \
	"$$(date -u +%F)" "build/bench-l7-policy, one core; see tools/bench/l7-policy-bench.c"; \
	$(O)/bench-l7-policy; } | tee bench/results/l7-policy.md; else $(O)/bench-l7-policy 10 1000; fi

# `make image`: the container image (deploy/Containerfile) from the binaries, with podman build,
# into podman's default storage; prints the tag and how to push it.
image: deps
	$(MAKE) $(BINS)
	@bash tools/image.sh

# `make demo [DEMO=l4]`: the bookinfo L7 tour through a waypoint (default), or the L4 demo.
DEMO ?= l7
demo: deps
	$(MAKE) $(BINS)
	@DEMO=$(DEMO) bash examples/demo/run.sh

# `make install [PREFIX=/usr/local] [DESTDIR=]`: ambitctl on PATH; the agent and the ztunnel,
# which ambitctl starts, in libexec/ambit, where ambitctl looks first (relative to itself, so a
# DESTDIR tree works as is).
PREFIX ?= /usr/local
BINDIR := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/ambit
SHAREDIR := $(PREFIX)/share/ambit
.PHONY: install uninstall
# The fake API server goes along for `ambitctl local up --kube` (share/ambit, beside bin).
install: $(O)/ambitctl $(O)/ambit-agent $(O)/ztunnel $(O)/waypoint $(O)/ambit-cni
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SHAREDIR)
	install -m 0755 $(O)/ambitctl $(DESTDIR)$(BINDIR)/ambitctl
	install -m 0755 $(O)/ambit-agent $(O)/ztunnel $(O)/waypoint $(O)/ambit-cni \
		$(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 tests/k8s/fake_apiserver.py tests/k8s/fake_kinds.py tests/k8s/fake_streams.py \
		tests/k8s/fake_rbac.py $(DESTDIR)$(SHAREDIR)/
	@# istioctl: ambitctl under istioctl's name (a link), where no other istioctl is on PATH,
	@# or with ISTIOCTL=1 (docs/istioctl.md).
	@other=$$(command -v istioctl 2>/dev/null || true); \
	if [ "$(ISTIOCTL)" = 1 ] || [ -z "$$other" ] || \
	   [ "$$(readlink -f "$$other")" = "$$(readlink -f $(DESTDIR)$(BINDIR)/ambitctl)" ]; then \
		ln -sf ambitctl $(DESTDIR)$(BINDIR)/istioctl; \
		echo "installed $(DESTDIR)$(BINDIR)/istioctl (ambitctl under istioctl's name)"; \
	else \
		echo "not installing istioctl: $$other is there (ISTIOCTL=1 replaces it)"; \
	fi

uninstall:
	@# istioctl only when it is ambit's link.
	@[ "$$(readlink $(DESTDIR)$(BINDIR)/istioctl 2>/dev/null)" != ambitctl ] || \
		rm -f $(DESTDIR)$(BINDIR)/istioctl
	rm -f $(DESTDIR)$(BINDIR)/ambitctl $(DESTDIR)$(LIBEXECDIR)/ambit-agent \
		$(DESTDIR)$(LIBEXECDIR)/ztunnel $(DESTDIR)$(LIBEXECDIR)/waypoint \
		$(DESTDIR)$(LIBEXECDIR)/ambit-cni \
		$(DESTDIR)$(SHAREDIR)/fake_apiserver.py $(DESTDIR)$(SHAREDIR)/fake_kinds.py \
		$(DESTDIR)$(SHAREDIR)/fake_streams.py $(DESTDIR)$(SHAREDIR)/fake_rbac.py
	-rmdir $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(SHAREDIR) 2>/dev/null

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	@bash tools/format-check.sh
	@bash tools/seam-check.sh

clean:
	rm -rf $(O)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
