#!/bin/sh
# Compiles the relay (relay.c): build.sh SOURCE OUTPUT. Static, so that the same
# file runs in the worker, in the control-plane image, and on a host it is
# copied to (src/sandbox/relay-binary.ts), whatever C library is there.
set -eu
gcc -std=gnu17 -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong \
  -fstack-clash-protection -fcf-protection -fPIE -static-pie -Wl,-z,relro,-z,now,-z,noexecstack \
  -o "$2.tmp" "$1"
strip "$2.tmp"
install -m 0755 "$2.tmp" "$2"
rm -f "$2.tmp"
