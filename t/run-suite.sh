#!/bin/bash
# Licensed under the Apache License, Version 2.0; see LICENSE.
#
# Runs the Apache::Test suite (make test-suite). Apache::Test refuses to run
# as root, so as root this creates an unprivileged user (ITSM_TEST_USER,
# default itsm-test) and runs the suite as that user from a copy of the tree
# under /tmp, since the checkout may sit in a folder the user cannot enter.
# The copy's t/logs are kept in t/logs of the checkout for inspection.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
    exec make -C "$top" --no-print-directory test-suite
fi

user=${ITSM_TEST_USER:-itsm-test}
if ! id "$user" >/dev/null 2>&1; then
    echo "run-suite: creating the unprivileged user $user for Apache::Test"
    useradd --system --create-home --home-dir "/var/lib/$user" \
        --shell /bin/bash "$user"
fi
home=$(getent passwd "$user" | cut -d: -f6)

work=$(mktemp -d /tmp/mod_itsm-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$top" --exclude=./.git --exclude=./t/var --exclude=./t/logs \
    --exclude=./var -cf - . | tar -C "$work" -xf -
chown -R "$user": "$work"
chmod 0755 "$work"

echo "run-suite: running the suite as $user in $work"
status=0
runuser -u "$user" -- env HOME="$home" PATH="$PATH" \
    make -C "$work" --no-print-directory test-suite || status=$?

rm -rf "$top/t/logs"
if [ -d "$work/t/logs" ]; then
    cp -r "$work/t/logs" "$top/t/logs"
fi
exit $status
