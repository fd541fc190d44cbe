# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Build, run and test mod_itsm. The targets a user needs are `make run` and
# `make test`; both install missing Debian packages first (see `deps`).

APXS      ?= apxs
PORT      ?= 8080
SHELL     := /bin/bash

SRC_DIR   := mod_itsm
GENERATED   := $(SRC_DIR)/itsm_sql.c
SOURCES   := $(filter-out $(GENERATED),$(wildcard $(SRC_DIR)/*.c)) \
             $(SRC_DIR)/itsm_sql.c
HEADERS   := $(wildcard $(SRC_DIR)/*.h)
SQL_FILES := $(sort $(wildcard sql/*/*.sql))
MODULE    := $(SRC_DIR)/.libs/mod_itsm.so

WARNINGS  := -Wall -Wextra -Werror -Wno-unused-parameter -std=gnu99
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=
LIBS      := -ljansson -ljwt -lcurl -lsodium

# Debian 12 packages the build, `make run` and the test suite need.
DEB_PACKAGES := apache2 apache2-dev libaprutil1-dbd-sqlite3 libaprutil1-dbd-pgsql \
	libjansson-dev libjwt-dev libcurl4-openssl-dev libsodium-dev \
	libapache2-mod-perl2 libwww-perl libhttp-daemon-perl libio-socket-ssl-perl \
	libjson-perl sqlite3 openssl ca-certificates passwd nodejs jq

.PHONY: all deps install run test test-suite clean

all: $(MODULE)

$(SRC_DIR)/itsm_sql.c: $(SQL_FILES) $(SRC_DIR)/embed-sql.sh
	$(SHELL) $(SRC_DIR)/embed-sql.sh $(SQL_FILES) > $@.tmp && mv $@.tmp $@

$(MODULE): $(SOURCES) $(HEADERS)
	cd $(SRC_DIR) && $(APXS) -c -o mod_itsm.la \
	    $(foreach f,$(WARNINGS) $(EXTRA_CFLAGS),-Wc,$(f)) \
	    $(foreach f,$(EXTRA_LDFLAGS),-Wl,$(f)) \
	    $(notdir $(SOURCES)) $(LIBS) >/dev/null

# Installs the packages that are missing. As root it runs apt-get; as
# another user it prints the command to run and fails.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	        || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	    echo "mod_itsm: missing Debian packages:$$missing" >&2; \
	    echo "run as root: apt-get update && apt-get install -y$$missing" >&2; \
	    exit 1; \
	fi; \
	echo "mod_itsm: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q && apt-get install -y -q --no-install-recommends $$missing
	@# nodejs builds from some sources ship npm inside; Debian's is separate.
	@if ! command -v npm >/dev/null 2>&1; then \
	    if [ "$$(id -u)" != 0 ]; then \
	        echo "mod_itsm: npm is missing; run as root: apt-get install -y npm" >&2; \
	        exit 1; \
	    fi; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm; \
	fi

install: all
	$(APXS) -i -n itsm $(MODULE)
	install -d $(DESTDIR)/etc/apache2/mods-available
	install -m 0644 conf/itsm.load $(DESTDIR)/etc/apache2/mods-available/itsm.load
	install -m 0644 conf/itsm.conf $(DESTDIR)/etc/apache2/mods-available/itsm.conf

run: deps
	@$(MAKE) --no-print-directory all
	@PORT="$(PORT)" ITSM_ADMIN_EMAIL="$(ITSM_ADMIN_EMAIL)" \
	    ITSM_ADMIN_PASSWORD="$(ITSM_ADMIN_PASSWORD)" \
	    ITSM_ALLOW_PRIVATE_TARGETS="$(or $(ALLOW_PRIVATE_TARGETS),$(ITSM_ALLOW_PRIVATE_TARGETS))" \
	    ITSM_HEALTH_INTERVAL="$(or $(HEALTH_INTERVAL),$(ITSM_HEALTH_INTERVAL))" \
	    exec $(SHELL) conf/run.sh

# `test` runs the suite as the current user, or, as root, as an unprivileged
# user from a copy of the tree (Apache::Test refuses to run as root).
test: deps
	@$(SHELL) t/run-suite.sh

# The suite itself; t/run-suite.sh calls it as the unprivileged user.
test-suite: all t/mcp/node_modules
	rm -rf t/var t/logs
	perl t/TEST -apxs $$(command -v $(APXS)) -port select $(TEST_ARGS)

# The MCP SDK client the suite drives /mcp with, at the locked version.
t/mcp/node_modules: t/mcp/package.json t/mcp/package-lock.json
	cd t/mcp && npm ci --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(SRC_DIR)/.libs $(SRC_DIR)/*.la $(SRC_DIR)/*.lo $(SRC_DIR)/*.slo \
	    $(SRC_DIR)/*.o $(SRC_DIR)/itsm_sql.c
	-[ -f t/TEST ] && perl t/TEST -clean >/dev/null 2>&1 || true
	rm -rf t/var t/logs
