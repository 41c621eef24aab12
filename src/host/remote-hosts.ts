import { UserError } from '../errors.js';
import { uriHost } from '../lab/hosts.js';

/** How long a remote host gets to answer one virsh call before it counts as unreachable. */
export const REMOTE_TIMEOUT_MS = 30_000;

/**
 * Why SSH to a libvirt host failed, from virsh's stderr (libvirt passes ssh's own message on), and the fix.
 * libvirt's errors: "Cannot recv data: ssh: connect to host .. port 22: Connection refused", "Host key
 * verification failed.", "Permission denied (publickey)", "Failed to connect socket to
 * '/var/run/libvirt/libvirt-sock': Permission denied" (the remote user is not in the libvirt group).
 */
export function sshFailureFix(uri: string, stderr: string, host = '<name>'): string {
  const target = uriHost(uri);
  const [userHost = target, port] = target.split(/:(?=\d+$)/);
  const ssh = `ssh${port ? ` -p ${port}` : ''} ${userHost}`;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION/i.test(stderr)) return `Accept the host's key once: ${ssh} true (or add no_verify=1 to the URI for a throwaway host)`;
  if (/Permission denied \((publickey|password)/i.test(stderr)) return `Put your public key on that host: ssh-copy-id${port ? ` -p ${port}` : ''} ${userHost} (or name one in the URI: ?keyfile=/path/to/key)`;
  if (/libvirt-sock.*(Permission denied|No such file)|authentication unavailable|polkit/i.test(stderr)) {
    return `On that host, start libvirtd and let the user in: sudo apt-get install libvirt-daemon-system && sudo adduser ${userHost.split('@')[0] ?? '$USER'} libvirt (then log in again)`;
  }
  if (/nc: |virt-ssh-helper|command not found/i.test(stderr)) return 'On that host, install libvirt (it brings virt-ssh-helper): sudo apt-get install libvirt-daemon-system libvirt-clients';
  return `Check that SSH works first: ${ssh} virsh -c qemu:///system version; then make doctor HOST=${host} says what that host lacks`;
}

export function remoteHostUnreachable(host: string, uri: string, stderr: string, timedOut?: boolean): UserError {
  const lines = stderr
    .split('\n')
    .map((line) => line.replace(/^error:\s*/, '').trim())
    .filter((line) => line && !/^failed to connect to the hypervisor$/i.test(line));
  const why = timedOut ? `no answer within ${REMOTE_TIMEOUT_MS / 1000} s` : lines.slice(-3).join('; ') || 'virsh failed without a message';
  return new UserError(`host ${host} is not reachable at ${uri}: ${why}. Nothing was changed.`, sshFailureFix(uri, stderr, host));
}
