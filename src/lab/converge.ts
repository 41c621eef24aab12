import type { ResolvedMachine } from './resolve-machines.js';

/**
 * The declarative converge, as a pure function: lab.yaml's machines against what libvirt has, to the
 * step each machine needs. `make plan` prints the steps; `make up` takes them.
 */

export type StepKind = 'create' | 'start' | 'reconfigure' | 'nothing';

export interface LiveDomain {
  state: string;
  cpus?: number;
  memoryMiB?: number;
  /** Shut off with its memory state kept (libvirt managed save, make suspend). */
  saved?: boolean;
}

export interface Step {
  machine: ResolvedMachine;
  kind: StepKind;
  /** What the step is about, for people: "not created", "memory 512 -> 1024 MiB (needs a halt)". */
  detail: string;
  /** The state the machine's domain is in now ("not created" when there is none). */
  state: string;
}

export interface Plan {
  steps: Step[];
  /** Domains with the lab's prefix that lab.yaml does not declare: reported, never touched. */
  undeclared: { domain: string; state: string }[];
}

function sizeChanges(machine: ResolvedMachine, live: LiveDomain): string[] {
  const changes: string[] = [];
  if (live.cpus !== undefined && live.cpus !== machine.cpus) changes.push(`cpus ${live.cpus} -> ${machine.cpus}`);
  if (live.memoryMiB !== undefined && live.memoryMiB !== machine.memory) changes.push(`memory ${live.memoryMiB} -> ${machine.memory} MiB`);
  return changes;
}

/**
 * `interrupted`: the domains whose first up was cut off (first-up.ts): whatever is there is half-made
 * (never provisioned, maybe on a box volume uploaded half way), so they are made again from scratch.
 */
export function planLab(
  machines: ResolvedMachine[],
  live: ReadonlyMap<string, LiveDomain>,
  labPrefix: string,
  allDeclared: string[] = machines.map((m) => m.domain),
  interrupted: ReadonlySet<string> = new Set(),
): Plan {
  const steps = machines.map((machine): Step => {
    const domain = live.get(machine.domain);
    if (interrupted.has(machine.domain)) {
      return { machine, kind: 'create', detail: `its first up was cut off (vmlab killed?): made again from image ${machine.image}`, state: domain?.state ?? 'not created' };
    }
    if (!domain) return { machine, kind: 'create', detail: `not created: create from image ${machine.image}`, state: 'not created' };
    const changes = sizeChanges(machine, domain);
    if (domain.state === 'running') {
      return changes.length
        ? { machine, kind: 'reconfigure', detail: `${changes.join(', ')} (needs a halt: the VM restarts)`, state: domain.state }
        : { machine, kind: 'nothing', detail: 'running, as declared', state: domain.state };
    }
    if (domain.saved) return { machine, kind: 'start', detail: 'saved: resume it where it was (memory state kept)', state: 'saved' };
    const applied = changes.length ? `; ${changes.join(', ')} applied at boot` : '';
    return { machine, kind: 'start', detail: `${domain.state}: boot it${applied}`, state: domain.state };
  });
  const declared = new Set(allDeclared);
  const undeclared = [...live.entries()]
    .filter(([domain]) => domain.startsWith(labPrefix) && !declared.has(domain))
    .map(([domain, info]) => ({ domain, state: info.state }));
  return { steps, undeclared };
}

export function upToDate(plan: Plan): boolean {
  return plan.steps.every((step) => step.kind === 'nothing');
}
