import { appendFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealLab } from './real-lab.js';

interface Job {
  id: string;
  image: string;
  state: string;
  step?: string;
  percent?: number;
  error?: string;
  workerPid?: number;
}

/** Role images: base -> docker through the build queue, the digest cache, staleness, a killed worker. */
export function roleImageSuite(): void {
  describe.sequential('role images through the build queue', () => {
    const lab = new RealLab('ri');
    const jobs = async (): Promise<Job[]> => JSON.parse((await lab.make(['queue', 'JSON=1'])).stdout || '[]');
    const versions = new Set<string>();
    const record = async (name: string) => {
      const found = (await lab.images()).find((image) => image.name === name);
      if (found) versions.add(`${found.box.replaceAll('/', '-VAGRANTSLASH-')}_vagrant_box_image_${found.boxVersion}_`);
      return found;
    };
    beforeAll(() => lab.open({ copyProject: true }));
    afterAll(() => lab.cleanup(['web']), 900_000);

    it('create-docker builds base then docker through the queue, and web runs containers', async () => {
      const create = await lab.make(['create-docker', 'NAME=web']);
      expect(create.exitCode, create.all?.slice(-4000)).toBe(0);
      expect(await lab.images()).toEqual([
        expect.objectContaining({ name: 'debian-12', kind: 'base', state: 'current' }),
        expect.objectContaining({ name: 'docker', kind: 'role', state: 'current', parent: 'debian-12' }),
      ]);
      expect((await jobs()).map((job) => [job.image, job.state])).toEqual([
        ['debian-12', 'done'],
        ['docker', 'done'],
      ]);
      const info = await lab.make(['ssh', 'NAME=web', 'CMD=docker info --format "{{.ServerVersion}}"']);
      expect(info.exitCode, info.all).toBe(0);
      expect(info.stdout.trim()).toMatch(/^\d+\.\d+/);
      const scratch = await lab.make([
        'ssh',
        'NAME=web',
        `CMD=d=$(mktemp -d) && cp /usr/bin/tini-static $d/tini && printf 'FROM scratch\\nCOPY tini /tini\\nENTRYPOINT ["/tini","--version"]\\n' > $d/Dockerfile && docker build -q -t vmlab-scratch $d >/dev/null && docker run --rm vmlab-scratch`,
      ]);
      expect(scratch.exitCode, scratch.all).toBe(0);
      expect(scratch.stdout).toMatch(/tini version \d+/);
    }, 2_400_000);

    it('a second build is a cache hit', async () => {
      const again = await lab.make(['build', 'ROLE=docker']);
      expect(again.exitCode, again.all).toBe(0);
      expect(again.all).toContain('up to date');
    }, 120_000);

    it('changing docker.sh makes only docker stale, and the next build rebuilds only docker', async () => {
      const [base, docker] = [await record('debian-12'), await record('docker')];
      await appendFile(path.join(lab.project, 'scripts/features/docker.sh'), '# changed by the real-VM test\n');
      expect((await lab.images()).map((image) => [image.name, image.state])).toEqual([
        ['debian-12', 'current'],
        ['docker', 'stale'],
      ]);
      const build = await lab.make(['build', 'ROLE=docker']);
      expect(build.exitCode, build.all?.slice(-3000)).toBe(0);
      expect((await record('debian-12'))?.created).toBe(base?.created);
      expect((await record('docker'))?.created).not.toBe(docker?.created);
      expect((await record('docker'))?.state).toBe('current');
    }, 1_800_000);

    it('a worker killed mid-build leaves a failed job and no half image; a retry succeeds', async () => {
      const before = await record('docker');
      const started = await lab.make(['build', 'ROLE=docker', 'FORCE=1', 'BG=1']);
      expect(started.exitCode, started.all).toBe(0);
      let running: Job | undefined;
      for (let i = 0; i < 600 && !running; i++) {
        running = (await jobs()).find((job) => job.image === 'docker' && job.state === 'running' && (job.percent ?? 0) > 0);
        if (!running) await new Promise((resolve) => setTimeout(resolve, 500));
      }
      expect(running?.workerPid, 'the build never got going').toBeGreaterThan(0);
      const table = await lab.make(['queue']);
      expect(table.stdout).toMatch(/docker\s+running\s+.*\d+%\s+.*\d+(s|m)/);
      process.kill(running!.workerPid!, 'SIGKILL');
      let after: Job | undefined;
      for (let i = 0; i < 20 && after?.state !== 'failed'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        after = (await jobs()).find((job) => job.id === running!.id);
      }
      expect(after?.state).toBe('failed');
      expect(after?.error).toMatch(/interrupted/);
      expect((await record('docker'))?.created).toBe(before?.created);
      const retry = await lab.make(['build', 'ROLE=docker', 'FORCE=1']);
      expect(retry.exitCode, retry.all?.slice(-3000)).toBe(0);
      expect((await record('docker'))?.created).not.toBe(before?.created);
      expect(await readFile(path.join(lab.env.VMLAB_HOME!, 'images/index.json'), 'utf8')).toContain('"docker"');
    }, 2_400_000);

    it('delete and image-rm leave no pool volume of any version built here, even one a VM used', async () => {
      expect((await lab.make(['delete', 'NAME=web', 'YES=1'])).exitCode).toBe(0);
      for (const image of ['docker', 'debian-12']) {
        const removed = await lab.make(['image-rm', `IMAGE=${image}`, 'YES=1']);
        expect(removed.exitCode, removed.all).toBe(0);
      }
      const volumes = await lab.virsh(['vol-list', 'default']);
      expect(versions.size).toBeGreaterThan(2);
      for (const version of versions) expect(volumes).not.toContain(version);
    }, 300_000);
  });
}
