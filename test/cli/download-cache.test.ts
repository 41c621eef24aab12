import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { downloadProgress, fetchVerified } from '../../src/images/download-cache.js';

/** A cloud image of 3 MiB and a bit, served with Range support, every request's headers kept. */
const IMAGE = Buffer.alloc(3 * 2 ** 20 + 123, 7);
IMAGE.write('a cloud image', 0);
const SHA = createHash('sha256').update(IMAGE).digest('hex');

let server: Server;
let base: string;
let requests: IncomingHttpHeaders[];
let dir: string;
let lines: string[];
let context: Context;

beforeEach(async () => {
  requests = [];
  server = createServer((request, response) => {
    requests.push(request.headers);
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range) {
      const from = Number(range[1]);
      response.writeHead(206, { 'content-length': String(IMAGE.length - from), 'content-range': `bytes ${from}-${IMAGE.length - 1}/${IMAGE.length}` });
      return void response.end(IMAGE.subarray(from));
    }
    response.writeHead(200, { 'content-length': String(IMAGE.length) }).end(IMAGE);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-downloads-'));
  lines = [];
  const progress = { update: (text: string) => lines.push(text), succeed: (text?: string) => lines.push(`ok ${text}`), fail: (text?: string) => lines.push(`fail ${text}`) };
  context = {
    env: { VMLAB_DOWNLOADS: dir },
    ui: { progress: (text: string) => (lines.push(text), progress), info: (text: string) => lines.push(text), warn: (text: string) => lines.push(`warn ${text}`) },
  } as unknown as Context;
});
afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const image = { name: 'cloud', file: 'images/cloud.yaml' };

describe('the download cache (VMLAB_DOWNLOADS)', () => {
  it('downloads once, with a progress line, and keeps the file under its sha256; the next build only checks it', async () => {
    const file = await fetchVerified(context, image, `${base}/cloud.img`, SHA);
    expect(file).toBe(path.join(dir, `${SHA}.img`));
    expect((await readFile(file)).equals(IMAGE)).toBe(true);
    expect(lines).toContain('ok image cloud: downloaded 3 MiB of 3 MiB (100%)');
    expect(requests).toHaveLength(1);
    lines = [];
    expect(await fetchVerified(context, image, `${base}/cloud.img`, SHA)).toBe(file);
    expect(requests).toHaveLength(1);
    expect(lines).toEqual([`image cloud: using the downloaded cloud.img from ${file} (checksum checked)`]);
  });

  it('a cut-off download continues where it stopped (Range), and the whole is checked', async () => {
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `${SHA}.partial`), IMAGE.subarray(0, 2 ** 20));
    const file = await fetchVerified(context, image, `${base}/cloud.img`, SHA);
    expect(requests.map((headers) => headers.range)).toEqual([`bytes=${2 ** 20}-`]);
    expect(lines[0]).toBe(`image cloud: downloading ${base}/cloud.img (continuing after 1 MiB)`);
    expect((await readFile(file)).equals(IMAGE)).toBe(true);
    expect(await readdir(dir)).toEqual([`${SHA}.img`]);
  });

  it('a mismatch is refused with both sums, and nothing is kept', async () => {
    const wrong = '0'.repeat(64);
    await expect(fetchVerified(context, image, `${base}/cloud.img`, wrong)).rejects.toThrow(`image cloud: sha256 mismatch for ${base}/cloud.img: expected ${wrong}, actual ${SHA}`);
    expect(await readdir(dir)).toEqual([]);
  });

  it('a cached file that no longer has its checksum is downloaded again, with a warning', async () => {
    await writeFile(path.join(dir, `${SHA}.img`), 'damaged');
    await fetchVerified(context, image, `${base}/cloud.img`, SHA);
    expect(lines[0]).toMatch(/^warn image cloud: the cached download .* has sha256 [0-9a-f]{64}, not [0-9a-f]{64}; downloading it again$/);
    expect(requests).toHaveLength(1);
  });

  it('progress reads in MiB, with a share when the size is known', () => {
    expect(downloadProgress(512 * 2 ** 20, 2048 * 2 ** 20)).toBe('512 MiB of 2048 MiB (25%)');
    expect(downloadProgress(3 * 2 ** 20, 0)).toBe('3 MiB');
  });
});
