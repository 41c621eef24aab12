#!/usr/bin/env bash
# The lab's machines by name: writes VMLAB_HOSTS ("10.20.0.11 web;10.20.0.12 db") into /etc/hosts between
# vmlab's markers, replacing what an earlier run wrote there and leaving every other line alone. Idempotent.
set -euo pipefail

begin='# vmlab lab hosts: begin (written by vmlab, replaced on every run)'
end='# vmlab lab hosts: end'
hosts=/etc/hosts
[ "$(id -u)" -eq 0 ] || { echo "vmlab: hosts: must run as root" >&2; exit 1; }

block=$(mktemp)
trap 'rm -f "$block" "$block.new"' EXIT
{
  echo "$begin"
  IFS=';' read -ra entries <<<"${VMLAB_HOSTS:-}"
  for entry in "${entries[@]}"; do
    # Each entry is "<address> <name>" as vmlab rendered it; anything else is refused, not written.
    [[ "$entry" =~ ^[0-9.]+\ [a-z][a-z0-9-]*$ ]] || { echo "vmlab: hosts: bad entry '$entry'" >&2; exit 1; }
    echo "$entry"
  done
  echo "$end"
} >"$block"

# Everything outside the old block, then the new block; written next to the file and moved over it.
awk -v begin="$begin" -v end="$end" '$0 == begin {skip = 1} !skip {print} $0 == end {skip = 0}' "$hosts" >"$block.new"
cat "$block" >>"$block.new"
chmod 0644 "$block.new"
cat "$block.new" >"$hosts"
echo "vmlab: hosts: $(( $(wc -l <"$block") - 2 )) lab machines in $hosts"
