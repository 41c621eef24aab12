import { UserError } from '../errors.js';
import { MACHINE_NAME } from '../names.js';

/**
 * make cp SRC=.. DST=..: which side is a machine ("web:/var/log/syslog") and which the host. Pure.
 * Exactly one side names a machine of lab.yaml; a host path with a colon is written ./a:b.
 */
export interface CopyPlan {
  machine: string;
  direction: 'from-machine' | 'to-machine';
  /** scp's two operands: "<machine>:<path>" and a host path that scp cannot take for a remote one. */
  source: string;
  destination: string;
}

type Endpoint = { machine: string; path: string } | { local: string };

function endpoint(text: string, machines: readonly string[]): Endpoint {
  const colon = text.indexOf(':');
  const prefix = colon > 0 ? text.slice(0, colon) : '';
  if (prefix && !prefix.includes('/')) {
    if (machines.includes(prefix)) return { machine: prefix, path: text.slice(colon + 1) || '.' };
    if (MACHINE_NAME.test(prefix)) {
      throw new UserError(`no machine named "${prefix}" in lab.yaml (in "${text}")`, `Known machines: ${machines.join(', ') || 'none'}. A host path with a colon: write ./${text}`, 2);
    }
  }
  // scp reads "a:b" as a remote path: a relative host path with a colon is made explicit.
  return { local: colon > 0 && !text.startsWith('/') && !text.startsWith('./') ? `./${text}` : text };
}

export function planCopy(source: string | undefined, destination: string | undefined, machines: readonly string[]): CopyPlan {
  const example = 'Example: make cp SRC=web:/var/log/syslog DST=./logs/ (or SRC=./site DST=web:/tmp/)';
  if (!source || !destination) throw new UserError('cp needs SRC and DST, one of them on a machine (<name>:<path>)', example, 2);
  const from = endpoint(source, machines);
  const to = endpoint(destination, machines);
  if ('machine' in from && 'machine' in to) throw new UserError('cp copies between the host and one machine, not between two machines', `Copy to the host first, then on: ${example}`, 2);
  if ('machine' in from && 'local' in to) return { machine: from.machine, direction: 'from-machine', source: `${from.machine}:${from.path}`, destination: to.local };
  if ('local' in from && 'machine' in to) return { machine: to.machine, direction: 'to-machine', source: from.local, destination: `${to.machine}:${to.path}` };
  throw new UserError('cp needs one side on a machine: <name>:<path>', example, 2);
}

/** scp's argv: recursive (directories too), times and modes kept, quiet; `--` so that no path is an option. */
export function scpArgs(configFile: string, plan: CopyPlan): string[] {
  return ['-F', configFile, '-r', '-p', '-q', '--', plan.source, plan.destination];
}
