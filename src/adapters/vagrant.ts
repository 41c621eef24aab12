import type { Runner, RunResult } from '../runner.js';

/**
 * vagrant: argv builders and parsers are pure; the executor below runs them in the lab folder.
 * Every call disables Vagrant's network checks: labs work offline, and the checks stall without a network.
 */
export const vagrantArgs = {
  /**
   * provision: 'unless-done' is vagrant's own rule: a machine's provisioners run at its first up only
   * (vagrant keeps a sentinel per machine once it has booted it), so a machine whose first up was cut
   * off before it booted, by Ctrl-C or a stall, is provisioned at its next up. 'no' never provisions.
   */
  up: (name: string, options: { provision: 'unless-done' | 'no' }) =>
    ['up', name, '--provider=libvirt', ...(options.provision === 'no' ? ['--no-provision'] : [])],
  halt: (name: string) => ['halt', name],
  destroy: (name: string) => ['destroy', '-f', name],
  ssh: (name: string, command?: string) => (command === undefined ? ['ssh', name] : ['ssh', name, '-c', command]),
  /** The machine's ssh settings as an ssh_config block whose Host is the machine's name (make cp, port tunnels). */
  sshConfig: (name: string) => ['ssh-config', name],
  /** With suspend_mode "managedsave" (the Vagrantfile): the memory state goes to disk, the domain shuts off. */
  suspend: (name: string) => ['suspend', name],
  resume: (name: string) => ['resume', name],
  validate: () => ['validate'],
  version: () => ['--version'],
  pluginList: () => ['plugin', 'list'],
  boxList: () => ['box', 'list', '--machine-readable'],
};

export const VAGRANT_ENV = {
  VAGRANT_CHECKPOINT_DISABLE: '1',
  VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1',
  VAGRANT_DEFAULT_PROVIDER: 'libvirt',
};

/** "Vagrant 2.3.4" -> "2.3.4" */
export function parseVagrantVersion(stdout: string): string | undefined {
  return /Vagrant (\d+\.\d+\.\d+)/.exec(stdout)?.[1];
}

/** "vagrant-libvirt (0.11.2, system)" -> "0.11.2" */
export function parsePluginVersion(stdout: string, plugin: string): string | undefined {
  const escaped = plugin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped} \\(([^,)]+)`, 'm').exec(stdout)?.[1];
}

/** `vagrant box list --machine-readable` lines: ts,target,type,data; a box-name line starts each box. */
export function parseBoxList(stdout: string): { name: string; provider?: string; version?: string }[] {
  const boxes: { name: string; provider?: string; version?: string }[] = [];
  for (const line of stdout.split('\n')) {
    const [, , type, ...rest] = line.split(',');
    const data = rest.join(',');
    if (type === 'box-name') boxes.push({ name: data });
    const current = boxes.at(-1);
    if (!current) continue;
    if (type === 'box-provider') current.provider = data;
    if (type === 'box-version') current.version = data;
  }
  return boxes;
}

export class Vagrant {
  constructor(
    private readonly runner: Runner,
    private readonly labDir: string,
  ) {}

  run(args: string[], options: { interactive?: boolean; readOnly?: boolean; check?: boolean } = {}): Promise<RunResult> {
    return this.runner.run('vagrant', args, {
      cwd: this.labDir,
      env: VAGRANT_ENV,
      stdio: options.interactive ? 'inherit' : 'pipe',
      readOnly: options.readOnly,
      check: options.check,
    });
  }
}
