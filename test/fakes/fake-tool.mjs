#!/usr/bin/env node
// A fake vagrant / virsh / qemu-img (after ruby-build's test/stubs/stub): installed on PATH under the tool's
// name, it logs every call and answers from a plan. A call the plan does not hold fails with exit 99 and is
// logged as unplanned, so the test fails; an entry nobody called fails the test as well.
//
// FAKE_DIR/plan.json: [{ "tool": "vagrant", "args": ["up", "web", "--provider=libvirt"],
//                        "stdout": "", "stderr": "", "exitCode": 0, "repeat": false }]
// "args" may hold "*" for any one word. Entries match in order; each is used once unless "repeat".
// "delayMs" makes the call take that long (to see calls overlap); each logged call has its start and end
// time in ms (t0, t1).
// A call whose environment holds VMLAB_SECRET_* variables is logged with "secrets": each such name and the
// sha256 of its value (never the value), so that a test can see a secret arrive by the environment.
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';

const tool = path.basename(process.argv[1]);
const args = process.argv.slice(2);
const dir = process.env.FAKE_DIR;
if (!dir) {
  process.stderr.write(`fake ${tool}: FAKE_DIR is not set\n`);
  process.exit(98);
}
const plan = JSON.parse(readFileSync(path.join(dir, 'plan.json'), 'utf8'));
const secrets = Object.fromEntries(
  Object.entries(process.env)
    .filter(([name]) => name.startsWith('VMLAB_SECRET_'))
    .map(([name, value]) => [name, createHash('sha256').update(value ?? '').digest('hex')]),
);
const log = (entry) => appendFileSync(path.join(dir, 'calls.jsonl'), `${JSON.stringify(Object.keys(secrets).length ? { ...entry, secrets } : entry)}\n`);
const matches = (entry) =>
  entry.tool === tool && entry.args.length === args.length && entry.args.every((word, i) => word === '*' || word === args[i]);

mkdirSync(path.join(dir, 'used'), { recursive: true });
for (const [index, entry] of plan.entries()) {
  if (!matches(entry)) continue;
  if (!entry.repeat) {
    try {
      // Claiming an entry is one atomic create, so parallel calls never share an entry.
      closeSync(openSync(path.join(dir, 'used', String(index)), 'wx'));
    } catch {
      continue;
    }
  }
  const t0 = Date.now();
  if (entry.delayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, entry.delayMs);
  log({ tool, args, cwd: process.cwd(), index, t0, t1: Date.now() });
  if (entry.stdout) process.stdout.write(entry.stdout);
  if (entry.stderr) process.stderr.write(entry.stderr);
  process.exit(entry.exitCode ?? 0);
}
log({ tool, args, cwd: process.cwd(), unplanned: true });
process.stderr.write(`fake ${tool}: unplanned call: ${JSON.stringify(args)}\n`);
process.exit(99);
