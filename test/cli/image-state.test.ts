import { chmod, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { registryIndexSchema, type ImageRecord } from '../../src/images/registry-schema.js';
import { queueFileSchema } from '../../src/queue/queue-schema.js';
import { hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, Sandbox, URI } from '../support/fakes.js';

/*
 * Issue 13, points 1, 2, 3 and 9, with real files: two checkouts (two VMLAB_HOMEs) on one host share the box
 * cache, the host-wide list of registries and Vagrant's box store, as they do for real. The base box builder
 * is a stand-in that writes a small real box (a tar of box.img, metadata.json, Vagrantfile) of random bytes
 * and counts its runs; the fake vagrant unpacks an added box into VAGRANT_HOME as vagrant does (a folder per
 * version), so vmlab sees what Vagrant holds.
 */

let a: Sandbox;
let b: Sandbox;
let shared: string;
let env: Record<string, string>;

async function installFakes(sandbox: Sandbox): Promise<void> {
  const bash = path.join(sandbox.binDir, 'bash');
  await rm(bash, { force: true });
  await writeFile(
    bash,
    `#!/usr/bin/bash
if [[ \${1-} != */scripts/image/build-base-box.sh ]]; then exec /usr/bin/bash "$@"; fi
shift
out=''
while (($#)); do
  case $1 in
  --out) out=$2; shift 2 ;;
  *) shift ;;
  esac
done
echo x >>"$FAKE_DIR/../shared/base-builds"
printf 'STEP 1/1 fake base build\\n'
work=$(/usr/bin/mktemp -d)
/usr/bin/head -c 65536 /dev/urandom >"$work/box.img"
echo '{"provider":"libvirt","format":"qcow2","virtual_size":8}' >"$work/metadata.json"
echo 'Vagrant.configure("2") do |config| end' >"$work/Vagrantfile"
/usr/bin/tar -C "$work" -cf "$out" metadata.json Vagrantfile box.img
/usr/bin/rm -rf "$work"
`,
  );
  await chmod(bash, 0o755);
  // vagrant: the fake answers; a box it added or removed is unpacked into or removed from VAGRANT_HOME.
  const vagrant = path.join(sandbox.binDir, 'vagrant');
  const fake = path.join(sandbox.root, 'fake-bin', 'vagrant');
  await mkdir(path.dirname(fake), { recursive: true });
  await rm(vagrant);
  await symlink(path.join(REPO, 'test/fakes/fake-tool.mjs'), fake);
  await writeFile(
    vagrant,
    `#!/usr/bin/bash
/usr/bin/env node ${fake} "$@"
rc=$?
if ((rc == 0)) && [[ "$1 $2" == "box add" ]]; then
  /usr/bin/env node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const d = require("path").join(process.env.VAGRANT_HOME, "boxes", c.name.replaceAll("/", "-VAGRANTSLASH-"), c.versions[0].version, "libvirt"); require("fs").mkdirSync(d, { recursive: true }); require("fs").writeFileSync(d + "/box.img", "unpacked");' "\${@: -1}"
fi
if ((rc == 0)) && [[ "$1 $2" == "box remove" && $6 == --box-version ]]; then
  /usr/bin/rm -rf "$VAGRANT_HOME/boxes/\${3//\\//-VAGRANTSLASH-}/$7"
fi
exit $rc
`,
  );
  await chmod(vagrant, 0o755);
}

beforeEach(async () => {
  a = await Sandbox.create();
  b = await Sandbox.create();
  shared = path.join(a.root, 'shared');
  await mkdir(shared, { recursive: true });
  // Both sandboxes' fake folders find the build counter at FAKE_DIR/../../shared: give b a link to a's.
  await rm(path.join(b.root, 'shared'), { recursive: true, force: true });
  await symlink(shared, path.join(b.root, 'shared'));
  env = { VMLAB_CACHE: path.join(shared, 'cache'), VMLAB_STATE_DIR: path.join(shared, 'state'), VAGRANT_HOME: path.join(shared, 'vagrant.d') };
  for (const sandbox of [a, b]) await installFakes(sandbox);
});
afterEach(async () => {
  await a.cleanup();
  await b.cleanup();
});

const boxList = (boxes: [string, string][]) => boxes.map(([name, version]) => `1,,box-name,${name}\n1,,box-provider,libvirt\n1,,box-version,${version}\n`).join('');
const emptyPool: PlannedCall = { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ' Name   Path\n-----------------\n\n', repeat: true };
const building: PlannedCall[] = [libvirtUp, emptyPool, ...hostReadings, { tool: 'vagrant', args: ['box', 'add', '--provider', 'libvirt', '*'], repeat: true }];

async function record(sandbox: Sandbox, name = 'debian-12'): Promise<ImageRecord> {
  const index = registryIndexSchema.parse(JSON.parse(await readFile(path.join(sandbox.home, 'images/index.json'), 'utf8')));
  const found = index.images[name];
  if (!found) throw new Error(`${name} is not registered in ${sandbox.home}`);
  return found;
}
const boxFile = (sandbox: Sandbox, image: ImageRecord) => path.join(sandbox.home, 'images', image.name, image.file);
const builds = async () => (await readFile(path.join(shared, 'base-builds'), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const boxAdds = async (sandbox: Sandbox) => (await sandbox.calls()).filter((call) => call.tool === 'vagrant' && call.args[1] === 'add').length;
const cacheFile = async (sandbox: Sandbox) => {
  const entries = (await readdir(path.join(shared, 'cache'))).filter((entry) => entry.endsWith('.box'));
  expect(entries, `${sandbox.root}: one cached box`).toHaveLength(1);
  return path.join(shared, 'cache', entries[0] as string);
};

// Building a base image needs root (vmlab refuses otherwise, before the builder runs); the tests run as root.
describe('images two checkouts can trust', { skip: process.getuid?.() !== 0 }, () => {
  it('a cache hit copies (no shared inode), shares one Vagrant box version, is not a build; FORCE=1 runs the builder', async () => {
    for (const sandbox of [a, b]) await sandbox.plan(building);
    const first = await a.make(['build', 'IMAGE=debian-12'], env);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(await builds()).toBe(1);
    const built = await record(a);
    const cached = await cacheFile(a);
    // The cache records the checksum of what it holds.
    expect(JSON.parse(await readFile(`${cached}.json`, 'utf8'))).toMatchObject({ sha256: built.sha256 });

    // The other checkout: the cache hit runs no builder and registers the same bytes under the same version.
    const dry = await b.make(['build', 'IMAGE=debian-12', 'DRY_RUN=1'], env);
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`cp --reflink=auto ${cached} `);
    expect(dry.stdout).not.toContain('build-base-box.sh');
    const second = await b.make(['build', 'IMAGE=debian-12'], env);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(await builds()).toBe(1);
    const reused = await record(b);
    expect(reused).toMatchObject({ sha256: built.sha256, boxVersion: built.boxVersion, buildSeconds: built.buildSeconds });
    expect(second.stderr).toContain(`Vagrant box vmlab/debian-12 ${built.boxVersion} is on this host already`);
    expect(await boxAdds(a)).toBe(1);
    expect(await boxAdds(b)).toBe(0);
    // Three files, three inodes: a registry shares its inode with neither the cache nor the other registry.
    const inodes = await Promise.all([boxFile(a, built), boxFile(b, reused), cached].map(async (file) => (await stat(file)).ino));
    expect(new Set(inodes).size).toBe(3);
    for (const file of [boxFile(a, built), boxFile(b, reused), cached]) expect((await stat(file)).nlink, file).toBe(1);
    // The cache hit is not a build: its job says so, and the ETA history leaves it out.
    const jobs = queueFileSchema.parse(JSON.parse(await readFile(path.join(b.home, 'queue/queue.json'), 'utf8'))).jobs;
    expect(jobs.map((job) => job.result)).toEqual(['cached']);

    // FORCE=1 runs the builder: new bytes, a new version, the cache replaced; the old version stays for b.
    const dryForce = await a.make(['build', 'IMAGE=debian-12', 'FORCE=1', 'DRY_RUN=1'], env);
    expect(dryForce.stdout).toMatch(/^bash \S+\/scripts\/image\/build-base-box\.sh /m);
    const forced = await a.make(['build', 'IMAGE=debian-12', 'FORCE=1'], env);
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(await builds()).toBe(2);
    const rebuilt = await record(a);
    expect(rebuilt.sha256).not.toBe(built.sha256);
    expect(rebuilt.boxVersion).not.toBe(built.boxVersion);
    expect(JSON.parse(await readFile(`${await cacheFile(a)}.json`, 'utf8'))).toMatchObject({ sha256: rebuilt.sha256 });
    expect((await a.calls()).filter((call) => call.args[1] === 'remove')).toEqual([]);
    expect((await readFile(path.join(a.home, 'queue/queue.json'), 'utf8')).match(/"result": "built"/g)).toHaveLength(2);
  });

  it('a damaged cache entry is not reused: a warning, and the builder runs', async () => {
    for (const sandbox of [a, b]) await sandbox.plan(building);
    expect((await a.make(['build', 'IMAGE=debian-12'], env)).exitCode).toBe(0);
    const cached = await cacheFile(a);
    await writeFile(cached, 'damaged in place');
    const result = await b.make(['build', 'IMAGE=debian-12'], env);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/the cached box \S+ is not reused: its sha256 is [0-9a-f]{64}, not [0-9a-f]{64} as recorded when it was built/);
    expect(await builds()).toBe(2);
    expect((await record(b)).sha256).not.toBe((await record(a)).sha256);
    expect(JSON.parse(await readFile(`${await cacheFile(b)}.json`, 'utf8'))).toMatchObject({ sha256: (await record(b)).sha256 });
  });

  it('images-verify: the other checkout\'s box is no orphan; a damaged box is marked, refused by create, and cleared by a rebuild', async () => {
    for (const sandbox of [a, b]) await sandbox.plan(building);
    expect((await a.make(['build', 'IMAGE=debian-12'], env)).exitCode).toBe(0);
    // b has an image of its own that a does not: its box must not count as an orphan in a.
    expect((await b.make(['build', 'IMAGE=debian-12'], env)).exitCode).toBe(0);
    const own = await record(a);
    const theirs = { ...own, name: 'tools', box: 'vmlab/tools', boxVersion: '0.20261120100000', file: 'tools.box' };
    const index = JSON.parse(await readFile(path.join(b.home, 'images/index.json'), 'utf8'));
    index.images.tools = theirs;
    await writeFile(path.join(b.home, 'images/index.json'), JSON.stringify(index));

    const verifyPlan = (vagrantBoxes: [string, string][]): PlannedCall[] => [
      { tool: 'vagrant', args: ['box', 'list', '--machine-readable'], stdout: boxList(vagrantBoxes), repeat: true },
      { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ` Name   Path\n${'-'.repeat(60)}\n vmlab-VAGRANTSLASH-tools_vagrant_box_image_0.20261120100000_box.img   /p/t.img\n vmlab-VAGRANTSLASH-gone_vagrant_box_image_0.1_box.img   /p/g.img\n\n`, repeat: true },
      { tool: 'qemu-img', args: ['check', '*'], stdout: 'No errors were found on the image.\n', repeat: true },
      { ...noDomains, repeat: true },
      ...building,
    ];
    const allBoxes: [string, string][] = [['vmlab/debian-12', own.boxVersion], ['vmlab/tools', theirs.boxVersion], ['vmlab/gone', '0.1']];
    await a.plan(verifyPlan(allBoxes));
    const sound = await a.make(['images-verify'], env);
    expect(sound.exitCode, sound.stdout + sound.stderr).toBe(0);
    expect(sound.stdout).toMatch(/^OK\s+debian-12\s+-$/m);
    expect(sound.stdout).not.toContain('vmlab/tools');
    expect(sound.stdout).not.toContain('tools_vagrant_box_image');
    // What no registry on the host claims is listed, as make gc judges it, without failing this registry's verify.
    expect(sound.stdout).toContain('orphan Vagrant box (no registry on this host claims it): vmlab/gone 0.1');
    expect(sound.stdout).toContain('orphan pool volume (no registry on this host claims it): vmlab-VAGRANTSLASH-gone_vagrant_box_image_0.1_box.img');

    // Damaged in place: verify names the file and the next step, and marks it.
    const file = boxFile(a, own);
    const good = await readFile(file);
    await writeFile(file, 'damaged');
    const failed = await a.make(['images-verify'], env);
    expect(failed.exitCode, failed.stdout + failed.stderr).not.toBe(0);
    expect(failed.stdout).toContain(`FAIL  debian-12  box file ${file} has sha256`);
    expect(failed.stdout).toContain('debian-12 is marked damaged (make create refuses it). Rebuild it: make build IMAGE=debian-12 FORCE=1, or remove it: make image-rm IMAGE=debian-12');
    const listed = await a.make(['images'], env);
    expect(listed.stdout).toMatch(/^debian-12\s+base\s+damaged\s/m);
    expect(listed.stdout).toContain('debian-12 is damaged (make images-verify');
    const json = JSON.parse((await a.make(['images', 'JSON=1'], env)).stdout) as (ImageRecord & { state: string })[];
    expect(json.find((image) => image.name === 'debian-12')).toMatchObject({ state: 'damaged', damaged: { problems: [expect.stringContaining(file)] } });

    // create refuses it, with the fix, and changes nothing; so does a build without FORCE.
    const before = await a.snapshot();
    const create = await a.make(['create-base', 'NAME=web', 'IMAGE=debian-12'], env);
    expect(create.exitCode).not.toBe(0);
    expect(create.stderr).toContain('image debian-12 is damaged: make images-verify found box file');
    expect(create.stderr).toContain('make build IMAGE=debian-12 FORCE=1');
    expect(await a.snapshot()).toEqual(before);
    expect((await a.make(['build', 'IMAGE=debian-12'], env)).stderr).toContain('image debian-12 is damaged');

    // A verify that passes clears the mark (the file put back); so does a rebuild.
    await writeFile(file, good);
    expect((await a.make(['images-verify'], env)).exitCode).toBe(0);
    expect((await record(a)).damaged).toBeUndefined();
    await writeFile(file, 'damaged');
    expect((await a.make(['images-verify'], env)).exitCode).not.toBe(0);
    expect((await record(a)).damaged).toBeDefined();
    await a.plan(building);
    const rebuild = await a.make(['build', 'IMAGE=debian-12', 'FORCE=1'], env);
    expect(rebuild.exitCode, rebuild.stderr).toBe(0);
    expect((await record(a)).damaged).toBeUndefined();
    expect(JSON.parse((await a.make(['images', 'JSON=1'], env)).stdout)[0]).toMatchObject({ name: 'debian-12', state: 'current' });
  });

  it('image-rm: a box another registry claims stays; the last registry to remove it removes the box and its volume', async () => {
    for (const sandbox of [a, b]) await sandbox.plan(building);
    expect((await a.make(['build', 'IMAGE=debian-12'], env)).exitCode).toBe(0);
    expect((await b.make(['build', 'IMAGE=debian-12'], env)).exitCode).toBe(0);
    const version = (await record(a)).boxVersion;
    const volume = `vmlab-VAGRANTSLASH-debian-12_vagrant_box_image_${version}_box.img`;
    const pool: PlannedCall = { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ` Name   Path\n${'-'.repeat(60)}\n ${volume}   /var/lib/libvirt/images/${volume}\n\n`, repeat: true };

    await a.plan([libvirtUp, pool]);
    const first = await a.make(['image-rm', 'IMAGE=debian-12', 'YES=1'], env);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stderr).toContain(`Vagrant box vmlab/debian-12 ${version} stays: another registry on this host claims it`);
    await a.expectPlanDone();

    await b.plan([libvirtUp, pool, { tool: 'vagrant', args: ['box', 'remove', 'vmlab/debian-12', '--provider', 'libvirt', '--box-version', version, '--force'] }, { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', volume] }]);
    const last = await b.make(['image-rm', 'IMAGE=debian-12', 'YES=1'], env);
    expect(last.exitCode, last.stderr).toBe(0);
    await b.expectPlanDone();
  });
});
