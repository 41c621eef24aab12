import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';

export const SSHD = '/usr/sbin/sshd';

/**
 * An sshd of the test's own on 127.0.0.1 (a free port, its own host key, a client key made here): a
 * stand-in for a remote libvirt host reached with qemu+ssh://. Its log shows every session, and the TCP
 * forwards to guests that SSH through the host makes.
 */
export class TestSshd {
  port = 0;
  private child: ChildProcess | undefined;

  constructor(readonly dir: string) {}

  get key(): string {
    return path.join(this.dir, 'client-key');
  }

  get log(): string {
    return path.join(this.dir, 'sshd.log');
  }

  uri(port = this.port): string {
    return `qemu+ssh://root@127.0.0.1:${port}/system?keyfile=${this.key}&no_verify=1`;
  }

  async start(): Promise<void> {
    if (this.child && this.child.exitCode === null) return;
    if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: apt-get install openssh-server (.ci/run does)`);
    if (!this.port) {
      await mkdir(this.dir, { recursive: true });
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(this.dir, 'host-key')]);
      await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'vmlab-ring3', '-f', this.key]);
      await writeFile(path.join(this.dir, 'authorized_keys'), await readFile(`${this.key}.pub`));
      this.port = await freePort();
      const config = [
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${path.join(this.dir, 'host-key')}`,
        `PidFile ${path.join(this.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${path.join(this.dir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'AllowTcpForwarding yes',
        // DEBUG1: the TCP forwards to guests too (server_request_direct_tcpip ... target <ip> port 22).
        'LogLevel DEBUG1',
      ];
      await writeFile(path.join(this.dir, 'sshd_config'), `${config.join('\n')}\n`);
    }
    // sshd's privilege separation needs its empty folder (made by the service's start script otherwise).
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    this.child = spawn(SSHD, ['-D', '-f', path.join(this.dir, 'sshd_config'), '-E', this.log], { stdio: 'ignore' });
    for (let tries = 0; tries < 50 && !(await accepts(this.port)); tries++) await sleep(100);
  }

  /** The number of SSH sessions sshd has started so far. */
  async sessions(): Promise<number> {
    return ((await readFile(this.log, 'utf8').catch(() => '')).match(/Starting session: command for root/g) ?? []).length;
  }

  async logText(): Promise<string> {
    return readFile(this.log, 'utf8').catch(() => '');
  }

  /**
   * Stops the daemon, the sessions it forked and the SSH clients that used its key (libvirt's and
   * vagrant's proxy commands: a tunnel to a halted guest lingers until TCP gives up), by their pids.
   */
  async stop(): Promise<void> {
    const daemon = this.child?.pid;
    this.child = undefined;
    const table = (await execa('ps', ['-eo', 'pid=,ppid=,args='], { reject: false })).stdout.split('\n').map((line) => {
      const [pid = '', ppid = '', ...args] = line.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), args: args.join(' ') };
    });
    const ours = table.filter((row) => (daemon && (row.pid === daemon || row.ppid === daemon)) || row.args.includes(this.key));
    for (const row of ours) {
      try {
        process.kill(row.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    for (let tries = 0; tries < 30 && (await accepts(this.port)); tries++) await sleep(100);
  }

  /** The key libvirt's no_verify=1 connection recorded in ~/.ssh/known_hosts for [127.0.0.1]:port. */
  async forgetHostKey(): Promise<void> {
    await execa('ssh-keygen', ['-R', `[127.0.0.1]:${this.port}`], { reject: false });
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
