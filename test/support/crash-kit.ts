import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { registryIndexSchema, type RegistryIndex } from '../../src/images/registry-schema.js';
import { queueFileSchema, type QueueFile } from '../../src/queue/queue-schema.js';
import { domainList, libvirtUp, Sandbox, URI } from './fakes.js';

/*
 * Helpers of the concurrency and crash tests (test/cli/concurrency.test.ts, test/cli/crash.test.ts): a
 * stand-in for the role-image builder script so that the real CLI and its real queue worker build role
 * images against the fakes, gates that hold a real tool for a while, and strict readers of the state files.
 */

/**
 * Replace the sandbox's `bash` with a wrapper: `bash <repo>/scripts/image/build-role-image.sh ...` (what
 * buildRoleImage runs) becomes a fake builder, every other use of bash is the real one. The fake builder
 * prints `STEP k/N fake step k` lines like the real one, leaves one file per step it reached in a folder
 * below --workdir (a half-built image: what a killed build leaves behind), takes FAKE_DIR/role-step-ms
 * per step (default 0; only for step FAKE_DIR/role-hold-step when that file exists), and writes a small
 * box to --out at the end. When the process that started it is gone (SIGKILL), it stops at once without
 * cleaning up, as a killed build would.
 */
export async function installRoleBuilderFake(sandbox: Sandbox): Promise<void> {
  const shim = path.join(sandbox.binDir, 'bash');
  await rm(shim, { force: true });
  await writeFile(
    shim,
    `#!/usr/bin/bash
if [[ \${1-} != */scripts/image/build-role-image.sh ]]; then exec /usr/bin/bash "$@"; fi
shift
out='' workdir=''
while (($#)); do
  case $1 in
  --out) out=$2; shift 2 ;;
  --workdir) workdir=$2; shift 2 ;;
  *) shift ;;
  esac
done
steps=\${FAKE_ROLE_STEPS:-4}
ms=$(/usr/bin/cat "$FAKE_DIR/role-step-ms" 2>/dev/null || echo 0)
hold=$(/usr/bin/cat "$FAKE_DIR/role-hold-step" 2>/dev/null || echo '')
parent=$PPID
parent_alive() {
  local stat rest
  stat=$(/usr/bin/cat /proc/$$/stat 2>/dev/null) || return 1
  rest=\${stat##*) }
  set -- $rest
  [[ $2 == "$parent" ]]
}
work=$(/usr/bin/mktemp -d "$workdir/role-build.XXXXXX")
for ((k = 1; k <= steps; k++)); do
  printf 'STEP %d/%d fake step %d\\n' "$k" "$steps" "$k"
  : >"$work/step-$k"
  [[ -z $hold || $hold == "$k" ]] || continue
  for ((t = 0; t < ms; t += 50)); do
    parent_alive || exit 137
    /usr/bin/sleep 0.05
  done
done
printf 'fake box of %s\\n' "$out" >"$work/box.img"
/usr/bin/tar -C "$work" -cf "$out" box.img
/usr/bin/rm -rf "$work"
`,
  );
  await chmod(shim, 0o755);
}

/**
 * A gate in front of a real program, installed in the sandbox under the program's name: a call whose
 * "program args" matches the bash glob in FAKE_DIR/gate-hold (when that file exists) is noted in
 * FAKE_DIR/gates-entered and held until FAKE_DIR/gate-release exists (at most 20 s); then the real program
 * runs. It holds one build step open, so that a SIGKILL lands in it; every other call goes straight through.
 */
export async function installGate(sandbox: Sandbox, program: string, real: string): Promise<void> {
  const file = path.join(sandbox.binDir, program);
  await rm(file, { force: true });
  await writeFile(
    file,
    `#!/usr/bin/bash
if [[ -e $FAKE_DIR/gate-hold && "${program} $*" == $(/usr/bin/cat "$FAKE_DIR/gate-hold") ]]; then
  echo "$$ ${program} $*" >>"$FAKE_DIR/gates-entered"
  for ((t = 0; t < 400; t++)); do
    [[ -e $FAKE_DIR/gate-release ]] && break
    /usr/bin/sleep 0.05
  done
fi
exec ${real} "$@"
`,
  );
  await chmod(file, 0o755);
}

/** Symlink host programs into the sandbox's PATH (the first of /usr/bin, /usr/sbin, /bin, /sbin that has each). */
export async function linkHostPrograms(sandbox: Sandbox, programs: string[]): Promise<void> {
  for (const program of programs) {
    const target = path.join(sandbox.binDir, program);
    if (existsSync(target)) continue;
    const found = ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((dir) => path.join(dir, program)).find((file) => existsSync(file));
    if (!found) throw new Error(`the host has no ${program}`);
    await symlink(found, target);
  }
}

/** Poll `check` every 50 ms until it returns something truthy; fail naming `what` (and its last state) after the timeout. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000, state?: () => Promise<unknown>): Promise<T> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const result = await check();
    if (result) return result;
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state ? `: ${JSON.stringify(await state())}` : ''}`);
}

/** The pids of the processes whose command line contains `text`. */
export async function processesNaming(text: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  const found: number[] = [];
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(text) && Number(pid) !== process.pid) found.push(Number(pid));
  }
  return found;
}

/** Whether a process runs (a zombie counts as gone). */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  let stat = '';
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** index.json as it is on disk, parsed and validated with the registry's own schema (throws if it does not validate). */
export async function readIndex(home: string): Promise<RegistryIndex> {
  const file = path.join(home, 'images/index.json');
  if (!existsSync(file)) return { version: 1, images: {} };
  return registryIndexSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

/** queue.json as it is on disk, parsed and validated with the queue's own schema (no reconciling). */
export async function readQueue(home: string): Promise<QueueFile> {
  const file = path.join(home, 'queue/queue.json');
  if (!existsSync(file)) return { version: 1, jobs: [] };
  return queueFileSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

/** The pids of every process below `pid` (children, their children, ...). */
export async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const found: number[] = [];
  for (let frontier = [pid]; frontier.length; ) {
    frontier = [...parents].filter(([, ppid]) => frontier.includes(ppid)).map(([child]) => child);
    found.push(...frontier);
  }
  return found;
}

/** Mount points below `root`, deepest first. */
export async function mountsBelow(root: string): Promise<string[]> {
  return (await readFile('/proc/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point): point is string => Boolean(point && point.startsWith(`${root}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Undo what a killed build may leave on the host below `root`: mounts (deepest first) and loop devices
 * whose backing file is there. Only ever things under the test's own sandbox folder.
 */
export async function releaseMountsAndLoops(root: string): Promise<void> {
  for (const point of await mountsBelow(root)) await execa('/usr/bin/umount', ['-l', point], { reject: false });
  for (const loop of await loopsBelow(root)) await execa('/usr/sbin/losetup', ['-d', loop], { reject: false });
}

/** Loop devices whose backing file is below `root`. */
export async function loopsBelow(root: string): Promise<string[]> {
  const listed = await execa('/usr/sbin/losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { reject: false });
  const devices = (JSON.parse(listed.stdout || '{"loopdevices":[]}') as { loopdevices: { name: string; 'back-file': string | null }[] }).loopdevices;
  return devices.filter((device) => device['back-file']?.replace(/ \(deleted\)$/, '').startsWith(`${root}/`)).map((device) => device.name);
}

/** A shut-off VM's disk: a qcow2 of a raw disk with one Linux partition holding /etc and /usr/bin/env. */
export async function makeVmDisk(dir: string): Promise<string> {
  const root = path.join(dir, 'root');
  for (const folder of ['etc/ssh', 'usr/bin', 'home/vagrant/.ssh', 'var/log', 'tmp']) await mkdir(path.join(root, folder), { recursive: true });
  await copyFile('/usr/bin/env', path.join(root, 'usr/bin/env'));
  await writeFile(path.join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n');
  await writeFile(path.join(root, 'etc/hostname'), 'web\n');
  await writeFile(path.join(root, 'etc/ssh/ssh_host_ed25519_key'), 'the machine own key\n');
  await writeFile(path.join(root, 'home/vagrant/.ssh/authorized_keys'), 'ssh-ed25519 AAAA web own key\n');
  await writeFile(path.join(root, 'var/log/syslog'), 'old log\n');
  const fs = path.join(dir, 'fs.img');
  const raw = path.join(dir, 'disk.raw');
  await execa('/usr/bin/truncate', ['-s', '40M', fs]);
  await execa('/usr/sbin/mke2fs', ['-q', '-t', 'ext4', '-d', root, fs]);
  await execa('/usr/bin/truncate', ['-s', '42M', raw]);
  await execa('/usr/sbin/sfdisk', ['-q', raw], { input: 'label: dos\nstart=2048, size=81920, type=83\n' });
  await execa('/usr/bin/dd', [`if=${fs}`, `of=${raw}`, 'bs=512', 'seek=2048', 'conv=notrunc', 'status=none']);
  const disk = path.join(dir, 'web.qcow2');
  await execa('/usr/bin/qemu-img', ['convert', '-O', 'qcow2', raw, disk]);
  await rm(fs);
  await rm(raw);
  return disk;
}

/** What export-disk.sh runs besides the tools a test may put behind gates (qemu-img, sfdisk, fstrim, tar). */
export const EXPORT_PROGRAMS = ['mktemp', 'chmod', 'mkdir', 'cp', 'mv', 'sort', 'tr', 'stat', 'install', 'sync', 'dd', 'truncate', 'setsid', 'mount', 'umount', 'basename', 'sleep', 'losetup'];

/**
 * A sandbox for exporting the shut-off machine web of role docker, whose disk is `disk`: a seeded registry,
 * lab.yaml, the host programs of the export script, and virsh answering for the domain. `programs`: more
 * host programs to link (those a test does not put behind a gate).
 */
export async function exportSandbox(disk: string, programs: string[] = []): Promise<Sandbox> {
  const sandbox = await Sandbox.create({ tools: ['vagrant', 'virsh'] });
  await sandbox.seedImages();
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n');
  await linkHostPrograms(sandbox, [...EXPORT_PROGRAMS, ...programs]);
  await sandbox.plan([
    libvirtUp,
    domainList([['vmlab-lab-web', 'shut off']], true),
    { tool: 'virsh', args: [...URI, 'domblklist', 'vmlab-lab-web', '--details'], stdout: ` Type   Device   Target   Source\n----------------------------------\n file   disk     vda      ${disk}\n`, repeat: true },
    { tool: 'vagrant', args: ['box', 'add', '--provider', 'libvirt', '*'], repeat: true },
  ]);
  return sandbox;
}
