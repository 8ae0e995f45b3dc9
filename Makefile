# Builds ngx_rtmp_cluster_module.so against Debian's nginx (nginx-dev).
#
#   make deps     install missing Debian packages (root)
#   make          build build/ngx_rtmp_cluster_module.so
#   make test     build and run the test suite
#   make asan     build build/asan/ngx_rtmp_cluster_module.so with
#                 AddressSanitizer and UndefinedBehaviorSanitizer
#   make test-asan  run the test suite against it (any report fails)
#   make demo     build and run a local cluster (two origins, an edge)
#   make demo-topology  (root) the design's cluster in network namespaces:
#                 three origins, three regional edges (scripts/topology.sh)
#   make loadclient  build build/rtmpload, the benchmarks' RTMP and HTTP-FLV
#                 player (scenario 9 compares HTTP-FLV with RTMP), and
#                 build/lookupload, the stream manager's (scenario 10)
#   make bench    run the benchmark scenarios (about 12 minutes) and write
#                 docs/benchmarks.md; SCENARIOS="2 5" runs only those
#   make soak     a bounded fault run at an edge (5 minutes; SOAK_SECONDS)
#   make bench-status  the cost of GET /cluster with many streams
#   make deb      build build/deb/libnginx-mod-rtmp-cluster_VERSION_ARCH.deb
#                 with Debian's tooling (debian/: debhelper, dh_nginx) from
#                 a copy of the checkout, then run lintian on it
#   make fuzz     build the libFuzzer targets in fuzz/ (clang) and run each
#                 for FUZZ_SECONDS (60); FUZZ_TARGETS="status json" runs
#                 only those
#
# NGX_SRC      configured nginx tree (default: Debian's nginx-dev)
# NGX_RTMP_SRC nginx-rtmp source tree (default: fetched from Debian)
# TESTS        test files for make test and make test-asan (default: t/)
# PROVE_FLAGS  extra prove options, e.g. -v or -j2

SHELL        := /bin/bash
NGX_SRC      ?= /usr/share/nginx/src
BUILD        := $(CURDIR)/build

ifeq ($(origin NGX_RTMP_SRC),undefined)
RTMP_DEP     := $(BUILD)/rtmp/.fetched
NGX_RTMP_SRC  = $(shell ls -d $(BUILD)/rtmp/nginx-rtmp-module-* | head -n 1)
endif

MODULE   := $(BUILD)/ngx_rtmp_cluster_module.so
SOURCES  := config $(wildcard *.c *.h)
CC_OPT   := $(shell dpkg-buildflags --get CFLAGS) \
            $(shell dpkg-buildflags --get CPPFLAGS) -fPIC
LD_OPT   := $(shell dpkg-buildflags --get LDFLAGS) -fPIC

# The sanitizer build: its own nginx tree, so the normal one is untouched.
# UBSan recovers (each report is logged and the worker goes on, so one run
# shows them all); ASan stops the worker at its first report.  No alignment
# checks: nginx-rtmp's shared buffers put their ngx_chain_t and ngx_buf_t
# 4 bytes into an allocation (after the refcount, ngx_rtmp_shared.c), so
# every use of s->out[] would be reported.
ASAN_MODULE  := $(BUILD)/asan/ngx_rtmp_cluster_module.so
ASAN_UBSAN   := $(BUILD)/asan/ubsan-options.so
ASAN_REPORTS := $(BUILD)/asan-reports
SAN_OPT      := -fsanitize=address,undefined -fno-sanitize=alignment \
                -fno-omit-frame-pointer
ASAN_CC_OPT  := $(CC_OPT) $(SAN_OPT)
ASAN_LD_OPT  := $(LD_OPT) $(SAN_OPT)
ASAN_LOG     := $(BUILD)/asan-configure.log

PROVE_FLAGS ?=
TESTS       ?= t/

all: $(MODULE)

deps:
	sh scripts/deps.sh

$(BUILD)/rtmp/.fetched:
	sh scripts/fetch-rtmp.sh $(BUILD)/rtmp >/dev/null
	touch $@

# $(call configure,TREE,CC_OPT,LD_OPT,LOG): a configured copy of nginx-dev's
# tree in TREE, with this module added
define configure
	rm -rf $(1)
	mkdir -p $(1)
	cp -a $(NGX_SRC)/. $(1)/
	cd $(1) && . ./conf_flags \
	    && NGX_RTMP_SRC="$(NGX_RTMP_SRC)" \
	       ./configure --with-cc-opt="$(2)" --with-ld-opt="$(3)" \
	       "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	       > $(4) 2>&1 \
	    || { tail -n 20 $(4); exit 1; }
endef

# $(call install,TREE,SO)
define install
	$(MAKE) -C $(1) -f objs/Makefile modules
	mkdir -p $(dir $(2))
	cp $(1)/objs/ngx_rtmp_cluster_module.so $(2).tmp
	mv -f $(2).tmp $(2)    # a new file: a running nginx keeps its mapped one
endef

# config writes the version from debian/changelog into objs/
$(BUILD)/nginx/objs/Makefile: config debian/changelog $(RTMP_DEP)
	$(call configure,$(BUILD)/nginx,$(CC_OPT),$(LD_OPT),$(BUILD)/configure.log)

$(MODULE): $(BUILD)/nginx/objs/Makefile $(SOURCES)
	$(call install,$(BUILD)/nginx,$@)

# the sanitizer tree is configured again when its flags change
$(BUILD)/asan-nginx.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(ASAN_CC_OPT) $(ASAN_LD_OPT)' | cmp -s - $@ \
	    || echo '$(ASAN_CC_OPT) $(ASAN_LD_OPT)' > $@

$(BUILD)/asan-nginx/objs/Makefile: config debian/changelog $(RTMP_DEP) \
                                   $(BUILD)/asan-nginx.flags
	$(call configure,$(BUILD)/asan-nginx,$(ASAN_CC_OPT),$(ASAN_LD_OPT),$(ASAN_LOG))

$(ASAN_MODULE): $(BUILD)/asan-nginx/objs/Makefile $(SOURCES)
	$(call install,$(BUILD)/asan-nginx,$@)

# preloaded by the tests after libasan: UBSan's options in nginx workers
$(ASAN_UBSAN): t/lib/ubsan-options.c
	mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Werror -fPIC -shared -o $@ $<

asan: $(ASAN_MODULE) $(ASAN_UBSAN)

test: $(MODULE)
	prove -I t/lib $(PROVE_FLAGS) $(TESTS)

# Every nginx of the tests runs with libasan preloaded and writes its
# sanitizer reports under $(ASAN_REPORTS) (t/lib/ClusterTest.pm); a test
# file fails when one appears during it, and so does the run.
test-asan: asan
	rm -rf $(ASAN_REPORTS)
	mkdir -p $(ASAN_REPORTS)
	chmod 1777 $(ASAN_REPORTS)
	rc=0; \
	CLUSTER_MODULE=$(ASAN_MODULE) CLUSTER_SANITIZE_DIR=$(ASAN_REPORTS) \
	    prove -I t/lib $(PROVE_FLAGS) $(TESTS) || rc=$$?; \
	sh scripts/sanitizer-reports.sh $(ASAN_REPORTS) && exit $$rc

demo: deps $(MODULE)
	sh scripts/demo.sh

demo-topology: $(MODULE)
	sh scripts/demo-topology.sh

loadclient:
	$(MAKE) -C bench

bench: $(MODULE) loadclient
	perl bench/run.pl $(SCENARIOS)

soak: $(MODULE) loadclient
	perl bench/soak.pl

bench-status: $(MODULE) loadclient
	perl bench/status.pl

fuzz: $(BUILD)/nginx/objs/Makefile
	$(MAKE) -C fuzz BUILD=$(BUILD)/fuzz NGX_BUILD=$(BUILD)/nginx \
	    NGX_RTMP_SRC="$(NGX_RTMP_SRC)"

# The package is built in a copy of the checkout's files (a package build
# cleans, and the working tree keeps its own build/), with nginx-rtmp's
# source copied in: dpkg-buildpackage does not download.
DEB_DIR := $(BUILD)/deb

deb: $(RTMP_DEP)
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/src/build
	git ls-files -z --cached --others --exclude-standard \
	    | xargs -0 cp --parents -t $(DEB_DIR)/src
	cp -a $(BUILD)/rtmp $(DEB_DIR)/src/build/
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc \
	    > $(DEB_DIR)/build.log 2>&1 \
	    || { tail -n 30 $(DEB_DIR)/build.log; exit 1; }
	rm -rf $(DEB_DIR)/src
	ls $(DEB_DIR)/*.deb
	if command -v lintian >/dev/null; then \
	    lintian --info $(DEB_DIR)/*.changes; fi

clean:
	rm -rf $(BUILD)/nginx $(MODULE) $(BUILD)/asan-nginx $(BUILD)/asan \
	       $(BUILD)/asan-nginx.flags $(ASAN_REPORTS)

.PHONY: all deps asan test test-asan demo demo-topology loadclient bench soak bench-status \
        fuzz deb clean FORCE
