#!/usr/bin/env bash
# Install the Debian packages epiradar's tests (`test`) or benchmarks (`bench`) need.
set -euo pipefail
what=${1:-test}
case "$what" in
  test)  need=(chromium postgresql) ; probe=(/usr/bin/chromium "$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | tail -n 1)") ;;
  bench) need=(r-base-core r-cran-surveillance r-cran-epiestim sqlite3) ; probe=(/usr/bin/Rscript /usr/lib/R/site-library/surveillance /usr/lib/R/site-library/EpiEstim /usr/bin/sqlite3) ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
missing=0
for p in "${probe[@]}"; do [ -n "$p" ] && [ -e "$p" ] || missing=1; done
[ "$missing" = 0 ] && exit 0
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "installing ${need[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
