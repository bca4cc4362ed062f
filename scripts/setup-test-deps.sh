#!/usr/bin/env bash
# scripts/setup-test-deps.sh - what the non-docker tests need from the machine (`npm run setup:test`).
#
#   nginx           the infra and e2e-local tests run a real nginx (test/support/nginx.ts looks for
#                   $NGINX_BIN, /usr/sbin/nginx, then nginx on PATH). Debian package: nginx-light.
#   docker-compose  the infra suite runs `docker-compose config -q` (no engine needed); package
#                   docker-compose (1.29). The compose suite's engine comes from test/docker/lab.sh.
#   envsubst        the infra suite renders the nginx template as the official image does; gettext-base.
#   promtool        the infra suite checks and unit-tests prometheus/alerts.yml (`promtool check rules`,
#                   `promtool test rules`); Debian package prometheus (2.42 on bookworm), which also
#                   installs the server: it is not started (see below), only promtool is used.
#   kubectl         the infra suite renders deploy/kubernetes with `kubectl kustomize`; any kubectl
#                   will do (the manifests keep to what kustomize v2.0.3 and v5 both know): when none
#                   is on PATH, Debian's kubernetes-client (1.20).
#   podman          the e2e-podman suite plays the one-pod overlay with `podman kube play`: Debian's
#                   podman (4.3) and catatonit (its pod's infra process). One drop-in file,
#                   /etc/containers/containers.conf.d/50-cbdemo-tests.conf, sets
#                   `default_ulimits = []` (podman's default rlimits are refused in this sandbox:
#                   "error setting rlimit type 7: operation not permitted") and the OCI runtime that
#                   scripts/podman-runtime.sh chooses for the machine's cgroup layout: runc where
#                   crun refuses a hybrid layout whose cgroup2 mount has controllers, crun elsewhere.
#   chromium        the e2e-local dashboard test drives Debian's headless Chromium with puppeteer-core
#                   (no browser download); package chromium, binary /usr/bin/chromium.
#
# Idempotent and fast when done: a dpkg-query check first, `apt-get update` only when something is
# missing. Installing must not leave a system nginx or prometheus running (the tests start their own
# on loopback ports, and ports 80 and 9090 must stay free): services are kept from starting with a
# policy-rc.d while apt runs, and an nginx master the install started anyway is stopped. No systemd
# is assumed.
set -euo pipefail

log() { printf '[setup-test-deps] %s\n' "$*" >&2; }

SUDO=()
if ((EUID != 0)); then
  command -v sudo >/dev/null || { log "not root and no sudo: install nginx-light, docker-compose, gettext-base, prometheus, kubernetes-client (or any kubectl), podman, catatonit and chromium by hand"; exit 1; }
  SUDO=(sudo)
fi

installed() {  # installed PKG: dpkg knows it as fully installed ("rc" = removed, config left: no)
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# Any Debian nginx flavour provides /usr/sbin/nginx; nginx-light is the small one we install.
have_nginx() {
  local p
  command -v dpkg-query >/dev/null || return 1
  for p in nginx-light nginx-core nginx-full nginx-extras nginx; do
    installed "$p" && [[ -x /usr/sbin/nginx ]] && return 0
  done
  return 1
}

# pids of running nginx master processes
nginx_masters() {
  local p
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q '^nginx: master process' && echo "${p#/proc/}"
  done
  return 0
}

missing=()
if have_nginx; then
  log "nginx present: $(/usr/sbin/nginx -v 2>&1)"
else
  missing+=(nginx-light)
fi
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v envsubst >/dev/null || missing+=(gettext-base)
command -v promtool >/dev/null || missing+=(prometheus)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v podman >/dev/null || missing+=(podman)
command -v catatonit >/dev/null || [[ -x /usr/libexec/podman/catatonit ]] || missing+=(catatonit)

# podman's configuration for the tests (idempotent: one drop-in file, written when it differs). The
# runtime is chosen before anything is installed, so that runc can be installed with the rest.
read -r podman_runtime podman_runtime_why < <(bash "$(dirname "${BASH_SOURCE[0]}")/podman-runtime.sh")
[[ $podman_runtime == runc ]] && ! command -v runc >/dev/null && [[ ! -x /usr/sbin/runc ]] && missing+=(runc)
podman_config() {
  local dir=/etc/containers/containers.conf.d file want
  file=$dir/50-cbdemo-tests.conf
  want="# written by scripts/setup-test-deps.sh
# no default rlimits: the sandbox refuses them
[containers]
default_ulimits = []

# $podman_runtime_why
[engine]
runtime = \"$podman_runtime\"
"
  log "podman: runtime $podman_runtime ($podman_runtime_why)"
  # the file of earlier versions of this script, which set the rlimits only
  [[ -e $dir/50-cbdemo-ulimits.conf ]] && "${SUDO[@]}" rm -f "$dir/50-cbdemo-ulimits.conf"
  [[ -f $file && $(<"$file")$'\n' == "$want" ]] && return 0
  log "podman: writing $file"
  "${SUDO[@]}" mkdir -p "$dir"
  printf '%s' "$want" | "${SUDO[@]}" tee "$file" >/dev/null
}
if ((${#missing[@]} == 0)); then
  if command -v podman >/dev/null; then podman_config; fi
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  if [[ ${missing[*]} == nginx-light ]] && command -v nginx >/dev/null; then log "nginx on PATH: $(nginx -v 2>&1)"; exit 0; fi
  log "no apt-get: install ${missing[*]} by hand (or set NGINX_BIN for nginx)"
  exit 1
fi

before=$(nginx_masters)

# Keep package scripts from starting services while apt runs (invoke-rc.d and deb-systemd-invoke
# both ask policy-rc.d). Only when the machine has none: an existing one is left exactly as it is.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  "${SUDO[@]}" sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
  trap '"${SUDO[@]}" rm -f "$policy"' EXIT
fi

log "installing ${missing[*]}"
APT=(apt-get -o DPkg::Lock::Timeout=300 -q)
"${SUDO[@]}" "${APT[@]}" update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${missing[@]}"

# If the install started the system nginx after all, stop it: only a master that was not running
# before and is the one Debian's service runs (pid in /run/nginx.pid). Test nginx processes use
# their own prefix and pid file and are never touched.
for pid in $(nginx_masters); do
  grep -qx "$pid" <<<"$before" && continue
  [[ -r /run/nginx.pid && $(</run/nginx.pid) == "$pid" ]] || continue
  log "the install started nginx (pid $pid): stopping it"
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    "${SUDO[@]}" systemctl stop nginx || true
  fi
  "${SUDO[@]}" kill -QUIT "$pid" 2>/dev/null || true
  for _ in $(seq 50); do   # gone, or a zombie waiting to be reaped
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || break
    stat=${stat##*) }; [[ ${stat%% *} == Z ]] && break
    sleep 0.1
  done
done

# Debian's prometheus package enables its server as a service (policy-rc.d above kept it from
# starting): the tests need only promtool, and port 9090 stays free for compose's observability profile.
if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
  "${SUDO[@]}" systemctl disable --now prometheus || true
fi

if command -v podman >/dev/null; then podman_config; fi

/usr/sbin/nginx -v
promtool --version 2>&1 | head -1
