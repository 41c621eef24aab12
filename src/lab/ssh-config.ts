import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Vagrant, vagrantArgs } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { ResolvedMachine } from './resolve-machines.js';

/**
 * The machine's ssh settings from `vagrant ssh-config` in a file of its own (VMLAB_HOME/ssh/<domain>.config,
 * mode 600), so that scp and ssh reach it as `ssh -F <file> <name>` with vagrant's key, user and address.
 */
function sshConfigPath(home: string, domain: string): string {
  return path.join(home, 'ssh', `${domain}.config`);
}

/** With the machine (make delete): its ssh settings go too. */
export async function removeSshConfig(context: Context, domain: string): Promise<void> {
  if (!context.dryRun) await rm(sshConfigPath(context.home, domain), { force: true });
}

export async function sshConfigFile(context: Context, machine: ResolvedMachine): Promise<string> {
  const result = await new Vagrant(context.runner, context.labDir).run(vagrantArgs.sshConfig(machine.name), { readOnly: true, check: false });
  if (result.exitCode !== 0 || !/^Host /m.test(result.stdout)) {
    throw new UserError(`could not read ${machine.name}'s ssh settings (vagrant ssh-config exited with ${result.exitCode})`, `Is it up? make list; start it: make start NAME=${machine.name}`);
  }
  const file = sshConfigPath(context.home, machine.domain);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, result.stdout, { mode: 0o600 });
  await chmod(file, 0o600);
  return file;
}
