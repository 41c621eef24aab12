#!/usr/bin/env bash
# Wait for cloud-init to finish the machine's first boot (its user-data: packages, files, commands), so that
# a machine is ready when make create returns, and fail with cloud-init's own account when a module failed.
# Vagrant logs in as soon as sshd answers, which is while cloud-init is still at work. cloud-init writes
# boot-finished at the end of its last stage; "cloud-init status --wait" returns early (22.4, Debian 12)
# once an earlier stage has reported an error, while the last one still installs packages.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "vmlab: cloud-init: must run as root" >&2; exit 1; }
command -v cloud-init >/dev/null || { echo "vmlab: cloud-init: not installed in this image" >&2; exit 1; }
finished=/var/lib/cloud/instance/boot-finished
for _ in $(seq 1 900); do
  [ -e "$finished" ] && break
  sleep 1
done
[ -e "$finished" ] || { echo "vmlab: cloud-init did not finish within 15 minutes:" >&2; cloud-init status --long >&2 || true; exit 1; }
status=$(cloud-init status --long 2>&1 || true)
case $status in
*'status: done'*) echo "vmlab: cloud-init done" ;;
*)
  echo "vmlab: cloud-init failed on this machine (your cloudInit: user-data, or the image's cloud-init):" >&2
  printf '%s\n' "$status" >&2
  tail -n 20 /var/log/cloud-init-output.log >&2 || true
  exit 1
  ;;
esac
