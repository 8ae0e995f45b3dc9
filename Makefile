# Builds ngx_rtmp_cluster_module.so against Debian's nginx (nginx-dev).
#
#   make deps     install missing Debian packages (root)
#   make          build build/ngx_rtmp_cluster_module.so
#   make test     build and run the test suite
#   make demo     build and run a local cluster (two origins, an edge)
#   make loadclient  build build/rtmpload, the benchmarks' RTMP player
#   make bench    run the benchmark scenarios (about 10 minutes) and write
#                 docs/benchmarks.md; SCENARIOS="2 5" runs only those
#
# NGX_SRC      configured nginx tree (default: Debian's nginx-dev)
# NGX_RTMP_SRC nginx-rtmp source tree (default: fetched from Debian)

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

PROVE_FLAGS ?=

all: $(MODULE)

deps:
	sh scripts/deps.sh

$(BUILD)/rtmp/.fetched:
	sh scripts/fetch-rtmp.sh $(BUILD)/rtmp >/dev/null
	touch $@

$(BUILD)/nginx/objs/Makefile: config $(RTMP_DEP)
	rm -rf $(BUILD)/nginx
	mkdir -p $(BUILD)/nginx
	cp -a $(NGX_SRC)/. $(BUILD)/nginx/
	cd $(BUILD)/nginx && . ./conf_flags \
	    && NGX_RTMP_SRC="$(NGX_RTMP_SRC)" \
	       ./configure --with-cc-opt="$(CC_OPT)" --with-ld-opt="$(LD_OPT)" \
	       "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	       > $(BUILD)/configure.log 2>&1 \
	    || { tail -n 20 $(BUILD)/configure.log; exit 1; }

$(MODULE): $(BUILD)/nginx/objs/Makefile $(SOURCES)
	$(MAKE) -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_rtmp_cluster_module.so $@.tmp
	mv -f $@.tmp $@    # a new file: a running nginx keeps its mapped one

test: $(MODULE)
	prove -I t/lib $(PROVE_FLAGS) t/

demo: deps $(MODULE)
	sh scripts/demo.sh

loadclient:
	$(MAKE) -C bench

bench: $(MODULE) loadclient
	perl bench/run.pl $(SCENARIOS)

clean:
	rm -rf $(BUILD)/nginx $(MODULE)

.PHONY: all deps test demo loadclient bench clean
