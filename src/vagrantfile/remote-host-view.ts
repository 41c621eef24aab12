/**
 * A machine on a remote libvirt host: the URI for vagrant-libvirt. SSH to the guest (whose address is on
 * that host's networks) then goes through the host: vagrant-libvirt derives the proxy command from a
 * qemu+ssh:// URI itself (host, port, user, keyfile; its PRs #1222-#1230), checking the host's key against
 * known_hosts. vmlab writes no proxy_command of its own: in vagrant-libvirt 0.11.2 a custom one fails as
 * soon as the URI has a port (`inputs << {port:}` on a Hash in config.rb, finalize_proxy_command).
 */
export function remoteHostView(uri: string | null): { libvirtUri: string | null } {
  return { libvirtUri: uri };
}
