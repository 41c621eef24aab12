import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import type { LiveDomain } from './converge.js';

/**
 * What libvirt has now: every domain with its state (one `virsh list --all`), and for the domains
 * named in `detailed` their vCPUs and memory (one batch of dominfo).
 */
export async function readLiveDomains(context: Context, detailed: string[]): Promise<Map<string, LiveDomain>> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const rows = await virsh.domains().catch((error: unknown) => {
    if (context.dryRun) return [];
    throw error;
  });
  const live = new Map<string, LiveDomain>(rows.map((row) => [row.name, { state: row.state }]));
  const known = detailed.filter((domain) => live.has(domain));
  for (const [domain, info] of await virsh.domainDetails(known, new Set())) {
    live.set(domain, { state: live.get(domain)!.state, cpus: info.cpus, memoryMiB: info.memoryMiB, ...(info.managedSave ? { saved: true } : {}) });
  }
  return live;
}
