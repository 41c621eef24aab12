import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listeningSockets } from '../adapters/ss.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { isProcessAlive } from '../process-alive.js';
import { startDetached } from '../runner.js';
import { holderOf, type ForwardedPort, type ListeningSocket } from './ports.js';
import type { ResolvedMachine } from './resolve-machines.js';
import { sshConfigFile } from './ssh-config.js';

/**
 * The host side of forwarded ports. vagrant-libvirt runs one `ssh -N -L` per port when it starts or
 * resumes a machine and records its pid in .vagrant/machines/<name>/libvirt/pids/ssh_<port>.pid (halt and
 * suspend kill them). vmlab checks the host ports before anything starts, and brings back the tunnels
 * of a running machine that are gone (killed, or vmlab's host side restarted), in the same files, so
 * that vagrant's halt still finds them.
 */

function pidDir(context: Context, machine: string): string {
  return path.join(context.labDir, '.vagrant', 'machines', machine, 'libvirt', 'pids');
}

/** The pids of the machine's own tunnels that still run, by host port. */
async function tunnelPids(context: Context, machine: string): Promise<Map<number, number>> {
  const dir = pidDir(context, machine);
  const pids = new Map<number, number>();
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    const port = /^ssh_(\d+)\.pid$/.exec(file)?.[1];
    const pid = Number((await readFile(path.join(dir, file), 'utf8').catch(() => '')).trim());
    if (port && pid > 0 && isProcessAlive(pid)) pids.set(Number(port), pid);
  }
  return pids;
}

function describeHolder(socket: ListeningSocket): string {
  return socket.holder ? `${socket.holder} on ${socket.address}` : `a program this user cannot see, on ${socket.address} (see: ss -tlnp)`;
}

/**
 * Before machines start: every declared host port must be free (a port held by the machine's own tunnel
 * from before counts as free: vagrant replaces it). Refuses with each taken port and who holds it.
 */
export async function checkPortsFree(context: Context, machines: ResolvedMachine[], retry: string): Promise<void> {
  const withPorts = machines.filter((machine) => machine.ports.length);
  if (withPorts.length === 0) return;
  const listening = await listeningSockets(context.runner);
  const taken: string[] = [];
  for (const machine of withPorts) {
    const own = new Set((await tunnelPids(context, machine.name)).values());
    for (const port of machine.ports) {
      const holder = holderOf(port, listening.filter((socket) => socket.pid === undefined || !own.has(socket.pid)));
      if (holder && !(holder.pid === undefined && own.size)) taken.push(`${machine.name}: host port ${port.hostPort} ("${port.spec}") is taken by ${describeHolder(holder)}`);
    }
  }
  if (taken.length) {
    throw new UserError(`forwarded port${taken.length > 1 ? 's' : ''} already in use on this host:\n  ${taken.join('\n  ')}`, `Stop what holds it, or change ports: in lab.yaml; then: ${retry}`);
  }
}

/** Kill the tunnels left by a machine that is not running (its guest went away under them). */
export async function clearStaleTunnels(context: Context, machines: ResolvedMachine[]): Promise<void> {
  if (context.dryRun) return;
  for (const machine of machines) {
    for (const pid of (await tunnelPids(context, machine.name)).values()) {
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (command.split('\0')[0]?.endsWith('ssh')) process.kill(pid, 'SIGTERM');
    }
  }
}

/** The argv of a tunnel, as vagrant-libvirt builds it, over the machine's ssh settings. */
export function tunnelArgs(configFile: string, machine: string, port: ForwardedPort): string[] {
  return ['-F', configFile, '-n', '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'ControlMaster=no', '-o', 'ConnectTimeout=10', '-L', `${port.hostIp}:${port.hostPort}:127.0.0.1:${port.guestPort}`, machine];
}

/**
 * For running machines: bring back each forwarded port nobody listens on. A port that another program
 * took meanwhile is reported, not fought over.
 */
export async function restoreTunnels(context: Context, machines: ResolvedMachine[]): Promise<void> {
  const withPorts = machines.filter((machine) => machine.ports.length);
  if (withPorts.length === 0) return;
  const listening = await listeningSockets(context.runner);
  for (const machine of withPorts) {
    const own = await tunnelPids(context, machine.name);
    const missing: ForwardedPort[] = [];
    for (const port of machine.ports) {
      const holder = holderOf(port, listening);
      if (!holder) missing.push(port);
      else if (holder.pid !== undefined && own.get(port.hostPort) !== holder.pid) context.ui.warn(`${machine.name}: host port ${port.hostPort} ("${port.spec}") is held by ${describeHolder(holder)}, not by its tunnel`);
    }
    if (missing.length === 0) continue;
    context.ui.info(`${machine.name}: forwarding ${missing.map((port) => port.spec).join(', ')} again (the tunnel was gone)`);
    if (context.dryRun) continue;
    const config = await sshConfigFile(context, machine);
    const dir = pidDir(context, machine.name);
    await mkdir(dir, { recursive: true });
    await mkdir(path.join(context.home, 'logs'), { recursive: true });
    const started = new Map<number, number>();
    const start = async (port: ForwardedPort) => {
      const pid = await startDetached('ssh', tunnelArgs(config, machine.name, port), { logFile: path.join(context.home, 'logs', `tunnel-${machine.name}-${port.hostPort}.log`), cwd: context.labDir });
      if (!pid) return;
      started.set(port.hostPort, pid);
      await writeFile(path.join(dir, `ssh_${port.hostPort}.pid`), String(pid));
    };
    for (const port of missing) await start(port);
    await waitListening(context, machine, missing, started, start);
  }
}

/** How often a tunnel whose ssh gave up is started again before vmlab says so. */
const TUNNEL_RESTARTS = 3;

/**
 * Until every tunnel listens: ssh binds the host port only once it has logged in to the guest, which takes
 * several seconds under software emulation. Right after a restore from a managed save the guest's network
 * may not answer the first connection yet: a tunnel whose ssh gave up is started again (a few times, two
 * seconds apart), so that the ports answer when make returns, or vmlab says which one does not.
 */
async function waitListening(context: Context, machine: ResolvedMachine, ports: ForwardedPort[], started: Map<number, number>, start: (port: ForwardedPort) => Promise<void>): Promise<void> {
  const restarts = new Map<number, number>();
  for (let attempt = 1; attempt <= 240; attempt++) {
    const listening = await listeningSockets(context.runner);
    const waiting = ports.filter((port) => !holderOf(port, listening));
    if (waiting.length === 0) return;
    const gone = waiting.filter((port) => !isProcessAlive(started.get(port.hostPort) ?? -1));
    if (gone.length === waiting.length && gone.every((port) => (restarts.get(port.hostPort) ?? 0) >= TUNNEL_RESTARTS)) break;
    if (attempt % 8 === 0) {
      for (const port of gone.filter((candidate) => (restarts.get(candidate.hostPort) ?? 0) < TUNNEL_RESTARTS)) {
        restarts.set(port.hostPort, (restarts.get(port.hostPort) ?? 0) + 1);
        await start(port);
      }
    }
    await sleep(250);
  }
  context.ui.warn(`${machine.name}: a forwarded port did not start listening; see ${path.join(context.home, 'logs')}/tunnel-${machine.name}-*.log`);
}
