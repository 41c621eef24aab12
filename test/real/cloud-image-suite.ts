import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorForSuite, readHostAptSources } from '../../src/host/apt-sources.js';
import { REPO } from '../support/fakes.js';
import { RealLab } from './real-lab.js';

/**
 * A cloud image end to end, offline (issue 16): the project's own builder makes a small Debian qcow2 with
 * cloud-init from the host's apt mirror (what a distribution's cloud image is to vmlab), a server on
 * 127.0.0.1 serves it, an image definition registers it through url: + sha256:, and one machine boots on it
 * with user-data that writes a file and adds a package. A wrong sha256 is refused with nothing registered.
 */
export function cloudImageSuite(): void {
  describe.sequential('cloud image over HTTP with cloud-init user-data on a real VM', () => {
    const lab = new RealLab('ci');
    let server: Server | undefined;
    let url = '';
    let sha256 = '';
    let imagesDir = '';
    let downloads = '';
    beforeAll(async () => {
      await lab.open({ copyProject: true });
      imagesDir = path.join(lab.root, 'images');
      downloads = path.join(lab.root, 'downloads');
      await mkdir(imagesDir);
      lab.env.VMLAB_IMAGES_DIR = imagesDir;
      lab.env.VMLAB_DOWNLOADS = downloads;
      // A role of one cheap feature (the guest agent is in the image already) on the cloud image.
      await writeFile(
        path.join(lab.project, 'roles', 'cloudy.yaml'),
        'description: A machine on the cloud image\nimage: cloud\nparent: cloud\nresources: {cpus: 1, memory: 1024, disk: 6}\nfeatures: [guest-agent]\nhealthchecks:\n  - name: guest agent running\n    run: systemctl is-active qemu-guest-agent\n',
      );
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await lab.cleanup(['web']);
    }, 900_000);

    it("the project's builder makes a Debian cloud image (cloud-init, no vagrant user), served on 127.0.0.1", async () => {
      const mirror = mirrorForSuite(await readHostAptSources(), 'bookworm');
      expect(mirror, 'no bookworm source in the host apt sources').toBeTruthy();
      const disk = path.join(lab.root, 'served', 'debian-cloud.qcow2');
      const started = Date.now();
      const build = await execa(
        path.join(REPO, 'scripts/image/build-base-box.sh'),
        ['--distro', 'debian', '--suite', 'bookworm', '--mirror', mirror!, '--size', '4G', '--cloud-image', '--out', disk, '--workdir', path.join(lab.root, 'work')],
        { reject: false, all: true },
      );
      expect(build.exitCode, build.all?.slice(-3000)).toBe(0);
      process.stderr.write(`cloud image built in ${((Date.now() - started) / 1000).toFixed(0)} s, ${((await stat(disk)).size / 2 ** 20).toFixed(0)} MiB\n`);
      sha256 = createHash('sha256').update(await readFile(disk)).digest('hex');
      const size = (await stat(disk)).size;
      server = createServer((request, response) => {
        if (request.url !== '/debian-cloud.qcow2') return void response.writeHead(404).end();
        response.writeHead(200, { 'content-length': String(size) });
        createReadStream(disk).pipe(response);
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/debian-cloud.qcow2`;
    }, 900_000);

    it('a wrong sha256 is refused with both sums, and nothing is registered or kept', async () => {
      const wrong = 'f'.repeat(64);
      await writeFile(path.join(imagesDir, 'badsum.yaml'), `description: the cloud image with a wrong checksum\nsource:\n  type: qcow2\n  url: ${url}\n  sha256: '${wrong}'\n`);
      const result = await lab.make(['build', 'IMAGE=badsum']);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`image badsum: sha256 mismatch for ${url}: expected ${wrong}, actual ${sha256}`);
      expect((await lab.images()).map((image) => image.name)).not.toContain('badsum');
      expect(await readdir(downloads).catch(() => [])).toEqual([]);
      expect((await execa('vagrant', ['box', 'list'], { reject: false, env: { VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout).not.toContain('vmlab/badsum');
    }, 300_000);

    it('a machine boots on it through url + sha256 with its user-data applied', async () => {
      await writeFile(path.join(imagesDir, 'cloud.yaml'), `description: Debian cloud image over HTTP\nsource:\n  type: qcow2\n  url: ${url}\n  sha256: '${sha256}'\n  guest: debian\n`);
      await writeFile(
        path.join(lab.labDir, 'web-user-data.yaml'),
        ['#cloud-config', 'write_files:', '  - path: /etc/vmlab-proof', '    content: "{{ name }} in lab {{ lab }}\\n"', 'packages:', '  - tree', ''].join('\n'),
      );
      await writeFile(path.join(lab.labDir, 'lab.yaml'), `name: ${lab.id}\nmachines:\n  web:\n    role: cloudy\n    cloudInit: web-user-data.yaml\n`);
      const started = Date.now();
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-4000)).toBe(0);
      process.stderr.write(`cloud image downloaded, registered and web booted with cloud-init in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      expect((await lab.images()).find((image) => image.name === 'cloud')).toMatchObject({ state: expect.any(String) });
      expect(await readdir(downloads)).toEqual([`${sha256}.img`]);

      const ssh = await lab.make(['ssh', 'NAME=web', "CMD=cat /etc/vmlab-proof; dpkg-query -W -f='${Status}\\n' tree; id -un; hostname; systemctl is-active qemu-guest-agent; cloud-init status"]);
      expect(ssh.exitCode, ssh.all?.slice(-2000)).toBe(0);
      expect(ssh.stdout.trim().split('\n').slice(-6)).toEqual([`web in lab ${lab.id}`, 'install ok installed', 'vagrant', 'web', 'active', 'status: done']);
      // The machine's own key, never Vagrant's insecure one: the same first-boot identity as debian-12's machines.
      const keys = await lab.make(['ssh', 'NAME=web', 'CMD=cat ~/.ssh/authorized_keys']);
      expect(keys.stdout).toContain(`vmlab-${lab.id}-web`);
      expect(keys.stdout).not.toContain('vagrant insecure public key');
      expect(await lab.virsh(['vol-list', 'default'])).toContain(`vmlab-${lab.id}-web-cidata.iso`);
    }, 1_800_000);

    it('make delete removes the machine with its seed volume', async () => {
      const result = await lab.make(['delete', 'NAME=web', 'YES=1']);
      expect(result.exitCode, result.all?.slice(-2000)).toBe(0);
      expect(await lab.virsh(['vol-list', 'default'])).not.toContain(`vmlab-${lab.id}-web`);
    }, 300_000);
  });
}
