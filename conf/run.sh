#!/bin/bash
# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# `make run`: prepares var/ (SQLite database, token-signing secret,
# credential key, first admin's password, httpd config) and runs httpd in
# the foreground on 127.0.0.1:$PORT until Ctrl-C or SIGTERM.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
port=${PORT:-8080}
admin_email=${ITSM_ADMIN_EMAIL:-admin@example.com}
libexecdir=$(apxs -q LIBEXECDIR)
run_user=www-data

umask 077
mkdir -p "$var/run"

user_lines=""
if [ "$(id -u)" = 0 ]; then
    # httpd refuses to serve as root: the children run as $run_user, who
    # must be able to reach var/ to write the database.
    user_lines="User $run_user
Group $run_user"
    chown "$run_user": "$var" "$var/run"
    [ -e "$var/itsm.db" ] && chown "$run_user": "$var"/itsm.db*
    if ! runuser -u "$run_user" -- test -w "$var"; then
        dir=$(dirname "$var")
        while [ "$dir" != / ]; do
            if ! runuser -u "$run_user" -- test -x "$dir"; then
                echo "run: letting $run_user pass through $dir (chmod o+x)"
                chmod o+x "$dir"
            fi
            dir=$(dirname "$dir")
        done
    fi
fi

if [ ! -s "$var/token-secret" ]; then
    head -c 48 /dev/urandom > "$var/token-secret"
fi
if [ ! -s "$var/credential-key" ]; then
    head -c 32 /dev/urandom > "$var/credential-key"
fi
chmod 600 "$var/token-secret" "$var/credential-key"

if [ -n "${ITSM_ADMIN_PASSWORD:-}" ]; then
    printf '%s\n' "$ITSM_ADMIN_PASSWORD" > "$var/admin-password"
elif [ ! -s "$var/admin-password" ]; then
    password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
    printf '%s\n' "$password" > "$var/admin-password"
    echo "run: first admin $admin_email, generated password: $password"
    echo "run: (also stored in var/admin-password; used only while the" \
         "database has no users)"
fi
chmod 600 "$var/admin-password"

extra=""
if [ "${ITSM_ALLOW_PRIVATE_TARGETS:-}" = 1 ]; then
    echo "run: outbound requests may reach loopback and private addresses"
    extra="ITSMAllowPrivateTargets On"
fi
if [ -n "${ITSM_HEALTH_INTERVAL:-}" ]; then
    echo "run: background health checks every $ITSM_HEALTH_INTERVAL s"
    extra="$extra
ITSMHealthCheckInterval $ITSM_HEALTH_INTERVAL"
fi

awk -v port="$port" -v var="$var" -v top="$top" -v libexec="$libexecdir" \
    -v admin="$admin_email" -v user="$user_lines" -v extra="$extra" '
    { gsub(/@PORT@/, port); gsub(/@VAR@/, var); gsub(/@TOP@/, top);
      gsub(/@LIBEXECDIR@/, libexec); gsub(/@ADMIN_EMAIL@/, admin);
      gsub(/@USER@/, user); gsub(/@EXTRA@/, extra); print }' \
    "$top/conf/run.conf.in" > "$var/httpd.conf"

echo "run: serving http://127.0.0.1:$port/api (Ctrl-C stops)"
# apache2 lives in /usr/sbin, which an ordinary user's PATH may lack.
exec "$(apxs -q SBINDIR)/apache2" -f "$var/httpd.conf" -DFOREGROUND
