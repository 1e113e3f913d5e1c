#!/usr/bin/env bash
# Install the Debian packages that the tests run for real (never a downloaded build):
# nginx, to test the shipped deploy/nginx.conf; prometheus, to scrape a running pchat's
# /metrics; systemd's systemd-analyze, to check deploy/pchat.service (verify and the offline
# security review; no systemd is started). Nothing is started here; the tests start their
# own instances on their own ports and stop them.
set -eu
need=()
[ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/bin/prometheus ] || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "missing: ${need[*]}: run 'sudo apt-get install -y ${need[*]}'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Packages must not start their services here (no init system; tests run their own).
policy=/usr/sbin/policy-rc.d
created=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
if [ "$created" = 1 ]; then rm -f "$policy"; fi
