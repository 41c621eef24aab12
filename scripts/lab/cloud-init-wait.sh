#!/usr/bin/env bash
# Wait for cloud-init to finish the machine's first boot (its user-data: packages, files, commands), so that
# a machine is ready when make create returns; fail with cloud-init's own account of what went wrong.
# Vagrant logs in as soon as sshd answers, which is while cloud-init is still at work.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "vmlab: cloud-init: must run as root" >&2; exit 1; }
command -v cloud-init >/dev/null || { echo "vmlab: cloud-init: not installed in this image" >&2; exit 1; }
# "status --wait" exits 0 when done, 1 on an error, 2 when done with recoverable errors (a warning).
status=0
cloud-init status --wait >/dev/null || status=$?
if [ "$status" -eq 1 ]; then
  echo "vmlab: cloud-init failed on this machine:" >&2
  cloud-init status --long >&2 || true
  tail -n 20 /var/log/cloud-init-output.log >&2 || true
  exit 1
fi
[ "$status" -eq 0 ] || { echo "vmlab: cloud-init finished with warnings (cloud-init status --long):" >&2; cloud-init status --long >&2 || true; }
echo "vmlab: cloud-init done"
