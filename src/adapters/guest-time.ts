/**
 * `virsh domtime`: the guest's clock through the QEMU guest agent (the base images carry
 * qemu-guest-agent and the domains have its channel). Argument builders and the parser.
 */
export const domtimeArgs = {
  /** Set the guest's clock to the host's time now. */
  setNow: (domain: string) => ['domtime', domain, '--now'],
  /** Read the guest's clock: "Time: <seconds since the epoch>". */
  read: (domain: string) => ['domtime', domain],
};

export function parseDomtime(stdout: string): number | undefined {
  const match = /^Time:\s*(\d+)\s*$/m.exec(stdout);
  return match ? Number(match[1]) : undefined;
}
