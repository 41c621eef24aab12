import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Call, domainList, dominfo, healthChecks, hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, runningStats, Sandbox, URI } from '../support/fakes.js';
import { addCustomImage, changingCalls, filesUnder, labState, pwnedFiles, seedQueue } from '../support/refusal-kit.js';

/*
 * Security (issue 7, item 5), against the fake tools: a user's value never reaches a shell (it is refused,
 * or it reaches the tool as one literal argv word), and a secret travels only by the environment: in no
 * file, no argv and no output.
 */

const LAB = 'name: lab\nmachines:\n  web:\n    role: docker\n';

/**
 * Shell metacharacters (; | && $() backticks > newline quotes) and option look-alikes. A shell that ran any of
 * the first three would make a file PWNED. $() goes alone: make itself expands $(...) in some variables.
 */
const PAYLOADS = ['x;touch PWNED|touch PWNED&&touch PWNED', '$(touch PWNED)', `\`touch PWNED\`>PWNED\n'"`, '--force', '-rf'];

const creating: PlannedCall[] = [libvirtUp, { ...noDomains, repeat: true }, ...hostReadings];
const webRunning: PlannedCall[] = [
  libvirtUp,
  domainList([['vmlab-lab-web', 'running']], true),
  dominfo('vmlab-lab-web', 2, 2048),
  { tool: 'virsh', args: [...URI, 'snapshot-list', 'vmlab-lab-web'], stdout: ' Name   Creation Time   State\n------------------------------\n\n', repeat: true },
  { tool: 'virsh', args: [...URI, 'domblklist', 'vmlab-lab-web', '--details'], stdout: ' Type   Device   Target   Source\n-----------------------------------\n file   disk     vda      /var/lib/libvirt/images/vmlab-lab-web.img\n', repeat: true },
  ...hostReadings,
];

interface Probe {
  variable: string;
  /** The target and the other variables it needs; the payload goes into `variable`. */
  args: string[];
  plan: PlannedCall[];
  prepare?: (sandbox: Sandbox) => Promise<void>;
  /** The value must reach this call as its last word (CMD: vagrant ssh web -c <value>). */
  reaches?: (value: string) => string[];
}

const probes: Probe[] = [
  { variable: 'NAME', args: ['create-docker'], plan: creating },
  { variable: 'NAME', args: ['delete', 'YES=1'], plan: webRunning },
  { variable: 'IMAGE', args: ['create-docker', 'NAME=x'], plan: creating },
  { variable: 'ROLE', args: ['build'], plan: [libvirtUp] },
  { variable: 'TARGET', args: ['export', 'NAME=web'], plan: webRunning },
  // golden exists: only FORCE=1 would let this export go on, so a FILE that turned into an option shows.
  { variable: 'FILE', args: ['export', 'NAME=web', 'TARGET=golden'], plan: webRunning, prepare: (sandbox) => addCustomImage(sandbox, 'golden', 'docker') },
  { variable: 'FILE', args: ['image-import', 'TARGET=golden'], plan: [libvirtUp] },
  { variable: 'SOURCE', args: ['clone', 'TARGET=web2'], plan: webRunning },
  { variable: 'SNAP', args: ['snapshot', 'NAME=web', 'ACTION=create'], plan: webRunning },
  { variable: 'ACTION', args: ['snapshot', 'NAME=web', 'SNAP=s1'], plan: webRunning },
  { variable: 'JOB', args: ['queue-cancel'], plan: [] },
  { variable: 'CMD', args: ['ssh', 'NAME=web'], plan: [libvirtUp, { tool: 'vagrant', args: ['ssh', 'web', '-c', '*'], repeat: true }], reaches: (value) => ['ssh', 'web', '-c', value] },
  { variable: 'GROUP', args: ['up'], plan: creating },
  { variable: 'GROUP', args: ['create-group', 'ROLE=base', 'COUNT=1'], plan: creating },
  { variable: 'NAMES', args: ['create-group', 'GROUP=db', 'ROLE=base'], plan: creating },
  { variable: 'COUNT', args: ['create-group', 'GROUP=db', 'ROLE=base'], plan: creating },
  { variable: 'SUBNET', args: ['create-group', 'GROUP=db', 'ROLE=base', 'COUNT=1'], plan: creating },
  { variable: 'CPUS', args: ['create-docker', 'NAME=x'], plan: creating },
  { variable: 'MEMORY', args: ['create-docker', 'NAME=x'], plan: creating },
  { variable: 'DISK', args: ['create-docker', 'NAME=x'], plan: creating },
  { variable: 'DRIVER', args: ['create-docker', 'NAME=x'], plan: creating },
];

/** Run one target with one payload; say what went wrong, if anything. */
async function tryPayload(probe: Probe, payload: string): Promise<string[]> {
  const sandbox = await Sandbox.create();
  try {
    await sandbox.seedImages();
    await seedQueue(sandbox);
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB);
    await probe.prepare?.(sandbox);
    await sandbox.plan(probe.plan);
    const before = await labState(sandbox);
    const result = await sandbox.make([...probe.args, `${probe.variable}=${payload}`]);
    const calls = await sandbox.calls();
    const label = `${probe.args[0]} ${probe.variable}=${payload}`;
    const problems: string[] = [];
    const pwned = await pwnedFiles(sandbox);
    if (pwned.length) problems.push(`${label}: a shell ran it: ${pwned.join(', ')}`);

    const literal = calls.some((call) => call.args.includes(payload));
    const refused = result.exitCode !== 0 && /^error: \S/m.test(result.stderr) && !result.stderr.includes('vmlab crashed');
    if (probe.reaches) {
      const wanted = probe.reaches(payload);
      if (!calls.some((call) => call.tool === 'vagrant' && JSON.stringify(call.args) === JSON.stringify(wanted))) {
        problems.push(`${label}: never reached ${JSON.stringify(wanted)} (calls: ${JSON.stringify(calls.map((call) => call.args))}; stderr: ${result.stderr.trim()})`);
      }
    } else if (refused) {
      const changing = changingCalls(calls);
      if (changing.length) problems.push(`${label}: refused, but after ${JSON.stringify(changing.map((call) => [call.tool, ...call.args]))}`);
      if (JSON.stringify(await labState(sandbox)) !== JSON.stringify(before)) problems.push(`${label}: refused, but lab.yaml, the Vagrantfile, the registry or the queue changed`);
    } else if (!literal) {
      problems.push(`${label}: neither refused nor passed as one word (exit ${result.exitCode}; stderr: ${result.stderr.trim()})`);
    }
    return problems;
  } finally {
    await sandbox.cleanup();
  }
}

describe.concurrent('every make variable a user types: refused, or one literal argv word', () => {
  // Each target with each payload; the problems of all payloads are reported together.
  it.each(probes)('$variable on make $args.0', async (probe) => {
    const problems: string[] = [];
    for (const payload of PAYLOADS) problems.push(...(await tryPayload(probe, payload)));
    expect(problems).toEqual([]);
  });

  // The variables covered above are every variable the Makefile hands to the CLI.
  it('covers every user variable of the Makefile', async () => {
    const makefile = await readFile(path.join(REPO, 'Makefile'), 'utf8');
    const exported = [...makefile.matchAll(/^export VMLAB_\w+ := \$\(value (\w+)\)$/gm)].map((match) => match[1]);
    expect(exported.length).toBeGreaterThan(10);
    const covered = new Set(probes.map((probe) => probe.variable));
    expect(exported.filter((variable) => !covered.has(variable!))).toEqual([]);
  });

  // make itself runs $(shell ..) in a variable it expands or exports: the Makefile does neither with
  // a user's value, the on/off switches (FORCE, YES, ...) included.
  it('make runs no $(shell ..) given in any variable, switches included', async () => {
    const makefile = await readFile(path.join(REPO, 'Makefile'), 'utf8');
    const unexported = /^unexport ((?:\\\n|[^\n])+)$/m.exec(makefile)?.[1]?.replaceAll('\\\n', ' ').split(/\s+/).filter(Boolean) ?? [];
    expect(unexported).toEqual(expect.arrayContaining(['NAME', 'DRIVER', 'FORCE', 'YES', 'JSON', 'DRY_RUN', 'AUTO_BUILD']));
    const sandbox = await Sandbox.create();
    try {
      await sandbox.plan([libvirtUp, { ...noDomains, repeat: true }]);
      const marker = path.join(sandbox.root, 'PWNED');
      const values = unexported.map((variable) => `${variable}=$(shell touch ${marker})`);
      for (const target of ['help', 'plan', 'list']) await sandbox.make([target, ...values]);
      expect(existsSync(marker)).toBe(false);
    } finally {
      await sandbox.cleanup();
    }
  });
});

describe('secrets travel by the environment only', () => {
  const SECRET_LAB = [
    'name: lab',
    'machines:',
    '  db:',
    '    role: base',
    '    provision: [setup-db.sh]',
    '    secrets: [DB_PASSWORD]',
    '  app:',
    '    role: base',
    '',
  ].join('\n');
  const boxVolume = 'vmlab-VAGRANTSLASH-debian-12_vagrant_box_image_0.20261120100000_box.img';
  const reads: PlannedCall[] = [
    libvirtUp,
    runningStats(),
    { tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], stdout: '<pool type="dir"><target><path>/var/lib/libvirt/images</path></target></pool>\n', repeat: true },
    { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ` Name   Path\n-----------------\n ${boxVolume}   /var/lib/libvirt/images/${boxVolume}\n\n`, repeat: true },
    { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: 'vmlab-mgmt\n', repeat: true },
    { tool: 'virsh', args: [...URI, 'net-list', '--inactive', '--name'], stdout: '\n', repeat: true },
  ];
  const running = [domainList([['vmlab-lab-db', 'running'], ['vmlab-lab-app', 'running']], true), dominfo('vmlab-lab-db', 1, 1024), dominfo('vmlab-lab-app', 1, 1024)];

  // make up with a declared secret: the value reaches vagrant up's environment (by its sha256) and is in no
  // file under the sandbox, no argv and no output; the Vagrantfile reads it from the environment.
  it('make up hands the secret to vagrant by its environment and writes it nowhere', async () => {
    const sandbox = await Sandbox.create();
    const secret = `pw-${randomBytes(12).toString('hex')}-$'"; x`;
    const env = { VMLAB_SECRET_DB_PASSWORD: secret };
    try {
      await sandbox.seedImages();
      await writeFile(path.join(sandbox.labDir, 'lab.yaml'), SECRET_LAB);
      await writeFile(path.join(sandbox.labDir, 'setup-db.sh'), '#!/bin/sh\nset -eu\necho "configuring the database"\n', { mode: 0o755 });
      await sandbox.plan([
        ...reads,
        { ...noDomains, repeat: true },
        { tool: 'vagrant', args: ['up', 'db', '--provider=libvirt'], stdout: 'Bringing machine db up\n' },
        { tool: 'vagrant', args: ['up', 'app', '--provider=libvirt'], stdout: 'Bringing machine app up\n' },
        healthChecks('db', 3),
        healthChecks('app', 3),
      ]);
      const up = await sandbox.make(['up'], env);
      expect(up.exitCode, up.stderr).toBe(0);
      await sandbox.expectPlanDone();
      const upCalls = await sandbox.calls();

      // The Vagrantfile names the variable; the provisioner reads it when it runs.
      const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
      expect(vagrantfile).toContain("'DB_PASSWORD' => ENV.fetch('VMLAB_SECRET_DB_PASSWORD'");
      expect(vagrantfile).toMatch(/machine\.vm\.provision 'lab-1-setup-db\.sh', type: "shell", path: 'setup-db\.sh'/);

      // vagrant up db saw the value in its environment: the fake logs only its sha256.
      const upDb = upCalls.find((call) => call.tool === 'vagrant' && call.args.join(' ') === 'up db --provider=libvirt') as (Call & { secrets?: Record<string, string> }) | undefined;
      expect(upDb?.secrets).toEqual({ VMLAB_SECRET_DB_PASSWORD: createHash('sha256').update(secret).digest('hex') });

      // make plan JSON=1 and make list JSON=1 with the machines running: no secret in their output either.
      await sandbox.plan([...reads, ...running, { tool: 'virsh', args: [...URI, 'domifaddr', '*'], stdout: '', repeat: true }]);
      const plan = await sandbox.make(['plan', 'JSON=1'], env);
      expect(plan.exitCode, plan.stderr).toBe(0);
      expect(JSON.parse(plan.stdout)).toMatchObject({ upToDate: true });
      const list = await sandbox.make(['list', 'JSON=1'], env);
      expect(list.exitCode, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout).machines.map((machine: { name: string }) => machine.name).sort()).toEqual(['app', 'db']);

      // Nowhere: output, argv of any call, any file under the sandbox (lab, VMLAB_HOME and its logs, cache).
      for (const output of [up, plan, list]) expect(`${output.stdout}\n${output.stderr}`).not.toContain(secret);
      const allCalls = [...upCalls, ...(await sandbox.calls())];
      expect(allCalls.filter((call) => call.args.some((word) => word.includes(secret)))).toEqual([]);
      const files = await filesUnder(sandbox.root);
      expect(files).toContain('lab/Vagrantfile');
      // The walk reads vagrant's per-machine logs of the parallel up too.
      expect(files.some((file) => file.startsWith('home/logs/') && file.includes('db'))).toBe(true);
      const holding = [];
      for (const file of files) if ((await readFile(path.join(sandbox.root, file), 'utf8')).includes(secret)) holding.push(file);
      expect(holding).toEqual([]);
    } finally {
      await sandbox.cleanup();
    }
  });
});
