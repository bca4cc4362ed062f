#!/usr/bin/env bash
# scripts/podman-runtime.sh - which OCI runtime podman can start containers with on this machine.
#
#   bash scripts/podman-runtime.sh            prints `<runtime> <why>` (runtime: crun or runc)
#   bash scripts/podman-runtime.sh layout     prints the cgroup layout in one line (for error messages)
#
# crun (podman's default on Debian) detects the layout as libcrun/cgroup-utils.c does: /sys/fs/cgroup
# itself cgroup2 = unified; a tmpfs there with a cgroup2 mount at /sys/fs/cgroup/unified = hybrid;
# otherwise legacy (v1 only). In hybrid mode it refuses every container when the cgroup2 mount has
# any controller ("cgroups in hybrid mode not supported, drop all controllers from cgroupv2",
# libcrun/cgroup.c), whatever podman's --cgroups says. runc has no such check. Only that one layout
# gets runc; everywhere else podman keeps its default.
#
# Inputs, so that a test can hand it a fake machine: CGROUP_MOUNTINFO (default /proc/self/mountinfo)
# and CGROUP_ROOT (default /sys/fs/cgroup; the mount points in the mountinfo are compared with it).
set -euo pipefail

mountinfo=${CGROUP_MOUNTINFO:-/proc/self/mountinfo}
root=${CGROUP_ROOT:-/sys/fs/cgroup}

# fstype MOUNTPOINT: the file system type of the last mount on exactly that point ("" when none).
# mountinfo: `id parent major:minor root mountpoint options [optional...] - fstype source superopts`
fstype() {
  awk -v want="$1" '$5 == want { for (i = 7; i <= NF; i++) if ($i == "-") { type = $(i + 1); break } } END { print type }' "$mountinfo"
}

# the controllers the unified mount has, space-separated ("" when none or unreadable)
unified_controllers() {
  local file=$root/unified/cgroup.controllers
  [[ -r $file ]] || return 0
  tr -s ' \n' ' ' <"$file" | sed 's/^ //; s/ $//'
}

# mode: unified, hybrid or legacy, as crun tells them apart
mode() {
  local top
  top=$(fstype "$root")
  if [[ $top == cgroup2 ]]; then echo unified
  elif [[ $top == tmpfs && $(fstype "$root/unified") == cgroup2 ]]; then echo hybrid
  else echo legacy
  fi
}

layout() {
  local m controllers
  m=$(mode)
  case $m in
    unified) echo "cgroup v2 unified at $root" ;;
    hybrid)
      controllers=$(unified_controllers)
      echo "hybrid: v1 controllers under $root, cgroup2 at $root/unified with controllers [${controllers}]" ;;
    legacy) echo "cgroup v1 only (legacy) under $root" ;;
  esac
}

choose() {
  local controllers
  if [[ $(mode) == hybrid ]]; then
    controllers=$(unified_controllers)
    if [[ -n $controllers ]]; then
      echo "runc crun refuses hybrid cgroups whose cgroup2 mount has controllers ($root/unified: $controllers)"
      return
    fi
    echo "crun hybrid cgroups, but the cgroup2 mount has no controller: crun accepts that"
    return
  fi
  echo "crun $(mode) cgroups: crun, podman's default, runs there"
}

case ${1:-choose} in
  choose) choose ;;
  layout) layout ;;
  *) echo "usage: $0 [choose|layout]" >&2; exit 2 ;;
esac
