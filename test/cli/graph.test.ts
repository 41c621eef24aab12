import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await writeFileIn('lab.yaml', 'name: lab\nnetworks:\n  back: 10.20.0.0/24\nmachines:\n  web:\n    role: docker\n    group: front\n    network: back\n    ip: 10.20.0.11\n');
});
afterEach(async () => sandbox.cleanup());

async function writeFileIn(name: string, text: string) {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path.join(sandbox.labDir, name), text);
}

describe('make graph', () => {
  it('without graphviz: prints the DOT text and the command that renders it', async () => {
    const result = await sandbox.make(['graph', `FILE=${path.join(sandbox.labDir, 'lab.svg')}`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^digraph "vmlab lab lab" \{/);
    expect(result.stdout).toContain('"machine:web" -> "network:vmlab-lab-back" [dir=none, label="10.20.0.11"];');
    expect(result.stdout).toContain('"machine:web" -> "image:docker"');
    expect(result.stderr).toContain("graphviz's dot is not installed");
    expect(result.stderr).toMatch(/apt-get install graphviz.*dot -Tsvg -o \S+lab\.svg/);
  });

  it('with dot on PATH: hands it the DOT text and writes the picture', async () => {
    // A stand-in dot that writes what it is given, to see exactly what vmlab passes.
    const { writeFile, chmod } = await import('node:fs/promises');
    const fakeDot = path.join(sandbox.binDir, 'dot');
    await writeFile(fakeDot, '#!/bin/sh\n# dot -T<format> -o <file>\ncat > "$3"\n');
    await chmod(fakeDot, 0o755);
    const file = path.join(sandbox.labDir, 'picture.svg');
    const result = await sandbox.make(['graph', `FILE=${file}`]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`wrote ${file} (1 machine)`);
    expect(await readFile(file, 'utf8')).toContain('subgraph "cluster_group_front"');
  });
});
