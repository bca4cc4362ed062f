#!/usr/bin/env bash
# bench/setup-peers.sh - what `npm run bench:peers` needs from the machine; the bench runs it when
# something is missing (`npm run setup:bench-peers` runs it by hand).
#
#   nginx-light  one of the three guards (scripts/setup-test-deps.sh installs it, as for the tests)
#   haproxy      another guard (Debian's package, 2.6 on bookworm)
#   tcpdump      counts the connection attempts that reach the port of a killed upstream: nothing
#                listens there, so no server can count them, and a capture does not change what
#                the guard sees (a refused connection), which a stand-in listener would
#
# Like setup-test-deps.sh: a quick check first, apt-get only when something is missing, and no
# service started by the packages is left running (haproxy's package starts one on install).
set -euo pipefail

log() { printf '[setup-peers] %s\n' "$*" >&2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

bash "$here/../scripts/setup-test-deps.sh"

missing=()
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)
command -v tcpdump >/dev/null || [[ -x /usr/bin/tcpdump ]] || missing+=(tcpdump)
((${#missing[@]} > 0)) || exit 0

SUDO=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { log "not root and no sudo: install ${missing[*]} by hand"; exit 1; }
  SUDO=(sudo)
fi
command -v apt-get >/dev/null || { log "no apt-get: install ${missing[*]} by hand"; exit 1; }

# Package scripts ask policy-rc.d before starting a service: 101 = not allowed. Only when the
# machine has none; an existing one is left as it is.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
  trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi

log "installing ${missing[*]}"
APT=(apt-get -o DPkg::Lock::Timeout=300 -q)
"${SUDO[@]}" "${APT[@]}" update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${missing[@]}"

# Should the package have started the system haproxy anyway (it listens on nothing we use, but it
# is a process nobody asked for), stop the one Debian's service runs.
if [[ -r /run/haproxy.pid ]]; then
  pid=$(</run/haproxy.pid)
  log "the install started haproxy (pid $pid): stopping it"
  "${SUDO[@]}" kill -USR1 "$pid" 2>/dev/null || true
fi
haproxy -v | head -1
tcpdump --version 2>&1 | head -1
