import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import { writeFileAtomic } from '../atomic-write.js';
import type { Context } from '../context.js';
import { poolVolumePrefix } from '../images/vagrant-boxes.js';
import { filesInUse } from '../images/volumes-in-use.js';
import { isProcessAlive } from '../process-alive.js';

/**
 * A machine's first `vagrant up`, recorded from its start to its end under VMLAB_HOME/first-up/. A vmlab
 * killed outright (SIGKILL: no clean-up runs) in the middle of one leaves what no later `vagrant up` mends:
 * - a box volume cut off half way through its upload, which vagrant-libvirt reuses because it exists;
 * - a domain that runs but was never provisioned: Vagrant writes its "provisioned" sentinel before the
 *   provisioners run, and `make up` takes a running domain as done.
 * A record whose vmlab is gone therefore means "made again from scratch": the half-made domain destroyed,
 * or, when there is none (killed during the upload), the box volume removed if no domain stands on it
 * (vagrant uploads it again); then a create.
 */
export interface FirstUp {
  machine: string;
  domain: string;
  box: string;
  boxVersion?: string;
  pid: number;
  startedAt: string;
}

const folder = (home: string) => path.join(home, 'first-up');
const recordFile = (home: string, domain: string) => path.join(folder(home), `${domain}.json`);

export async function startFirstUps(context: Context, records: Omit<FirstUp, 'pid' | 'startedAt'>[]): Promise<void> {
  if (context.dryRun || !records.length) return;
  await mkdir(folder(context.home), { recursive: true });
  for (const record of records) {
    await writeFileAtomic(recordFile(context.home, record.domain), `${JSON.stringify({ ...record, pid: process.pid, startedAt: new Date().toISOString() }, null, 2)}\n`);
  }
}

export async function endFirstUp(context: Context, domain: string): Promise<void> {
  if (!context.dryRun) await rm(recordFile(context.home, domain), { force: true });
}

/** The first ups whose vmlab is gone before they ended (one still alive is another vmlab at work: not ours). */
export async function interruptedFirstUps(home: string): Promise<Map<string, FirstUp>> {
  const found = new Map<string, FirstUp>();
  for (const name of await readdir(folder(home)).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const record = await readFile(path.join(folder(home), name), 'utf8').then((text) => JSON.parse(text) as FirstUp, () => undefined);
    if (record?.domain && !isProcessAlive(record.pid)) found.set(record.domain, record);
  }
  return found;
}

/**
 * Before the machines whose first up was cut off are made again: destroy their half-made domains
 * (`destroy` runs vagrant destroy, as a stalled new machine is removed) and remove their box volume when
 * no domain stands on it, so that vagrant uploads it whole. Then forget the records.
 */
export async function clearInterruptedFirstUps(context: Context, records: FirstUp[], liveDomains: ReadonlySet<string>, destroy: (records: FirstUp[]) => Promise<void>): Promise<void> {
  if (context.dryRun || !records.length) return;
  const withDomain = records.filter((record) => liveDomains.has(record.domain));
  if (withDomain.length) {
    context.ui.info(`removing what the interrupted first up of ${withDomain.map((record) => record.machine).join(', ')} left, to make ${withDomain.length > 1 ? 'them' : 'it'} again`);
    await destroy(withDomain);
  }
  const virsh = new Virsh(context.runner, context.libvirtUri);
  // vagrant-libvirt makes the domain only once the box volume is uploaded: with a domain, the upload was whole.
  const cutOffUploads = records.filter((record) => record.boxVersion && !liveDomains.has(record.domain));
  const prefixes = [...new Set(cutOffUploads.map((record) => `${poolVolumePrefix(record.box)}${record.boxVersion}_`))];
  if (prefixes.length) {
    const volumes = (await virsh.volumes(context.pool)).filter((volume) => prefixes.some((prefix) => volume.name.startsWith(prefix)));
    if (volumes.length) {
      const problems: string[] = [];
      const inUse = await filesInUse(context, problems);
      // Only on full knowledge: a volume a VM stands on must never go.
      for (const volume of problems.length ? [] : volumes.filter((candidate) => !inUse.has(candidate.path))) {
        context.ui.info(`removing box volume ${volume.name}: its upload may have been cut off; vagrant uploads it again`);
        await virsh.change(virshArgs.volDelete(context.pool, volume.name));
      }
    }
  }
  for (const record of records) await endFirstUp(context, record.domain);
}
