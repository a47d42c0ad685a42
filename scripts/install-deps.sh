#!/usr/bin/env bash
# Installs the Debian 12 packages Kakehashi needs to build, test and run the demo.
# Only missing packages are installed. System services (slapd, redis, apache2) that
# Debian would start on install are kept stopped with a temporary policy-rc.d:
# the project starts its own private instances on loopback ports.
set -euo pipefail

BUILD_PKGS="build-essential autoconf automake libtool pkg-config
  liblasso3-dev libglib2.0-dev liboauth2-dev libssl-dev libjwt-dev libhiredis-dev
  libmicrohttpd-dev libjansson-dev libldap-dev libinih-dev libcurl4-openssl-dev
  libqrencode-dev liboath-dev libcbor-dev"
RUN_PKGS="slapd ldap-utils redis-server redis-tools openssl curl python3 ca-certificates"
TEST_PKGS="chromium nodejs npm valgrind clang libclang-rt-14-dev clang-format
  apache2 libapache2-mod-auth-mellon libapache2-mod-auth-openidc python3-pysaml2 xmlsec1
  python3-requests oathtool lld"

DEMO_PKGS="apache2 libapache2-mod-auth-mellon libapache2-mod-auth-openidc"

want="$BUILD_PKGS $RUN_PKGS"
case "${1:-}" in
  --test) want="$want $TEST_PKGS" ;;
  --demo) want="$want $DEMO_PKGS" ;;
  "") ;;
  *) echo "usage: $0 [--test|--demo]" >&2; exit 2 ;;
esac

missing=()
for p in $want; do
  # node/npm may come from elsewhere (nodesource); accept a working binary.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages: ${missing[*]}" >&2
    echo "install-deps: run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  trap '[ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/kakehashi-apt.log 2>&1; then
    apt-get update >>/tmp/kakehashi-apt.log 2>&1
    apt-get install -y --no-install-recommends "${missing[@]}" >>/tmp/kakehashi-apt.log 2>&1 || {
      tail -n 30 /tmp/kakehashi-apt.log >&2
      echo "install-deps: apt-get install failed (log: /tmp/kakehashi-apt.log)" >&2
      exit 1
    }
  fi
fi
