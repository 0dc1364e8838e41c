# Real parts for the image tests, sourced by scripts/test: Debian's docker.io for `dockerd`.
# The tests start their own dockerd (tests/realparts.py: vfs storage, no bridge, no iptables,
# a unix socket in a temporary directory), so nothing is started here; the package's own
# service may be refused by policy-rc.d in containers, which is fine.
if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io
  else
    sudo apt-get update -qq
    sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io
  fi
fi
