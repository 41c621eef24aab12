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
// virsh runs a batch (one argument holding commands separated by " ; ") as virsh does: each command is
// matched and answered on its own (with the options before it, such as -c URI), "echo" prints its words, an
// unplanned one is logged and the rest still run; each is logged with "batch": the process id, so that a
// test can count virsh processes.
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

mkdirSync(path.join(dir, 'used'), { recursive: true });

/** Answer one call from the plan; returns its exit code, or undefined when the plan does not hold it. */
function answer(callArgs, extra = {}) {
  const matches = (entry) =>
    entry.tool === tool && entry.args.length === callArgs.length && entry.args.every((word, i) => word === '*' || word === callArgs[i]);
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
    log({ tool, args: callArgs, cwd: process.cwd(), index, t0, t1: Date.now(), ...extra });
    if (entry.stdout) process.stdout.write(entry.stdout);
    if (entry.stderr) process.stderr.write(entry.stderr);
    return entry.exitCode ?? 0;
  }
  log({ tool, args: callArgs, cwd: process.cwd(), unplanned: true, ...extra });
  process.stderr.write(`fake ${tool}: unplanned call: ${JSON.stringify(callArgs)}\n`);
  return undefined;
}

const last = args.at(-1) ?? '';
if (tool === 'virsh' && last.includes(' ; ')) {
  const options = args.slice(0, -1);
  let code = 0;
  for (const command of last.split(' ; ').map((text) => text.trim().split(/\s+/))) {
    if (command[0] === 'echo') {
      process.stdout.write(`${command.slice(1).join(' ')}\n`);
      continue;
    }
    const result = answer([...options, ...command], { batch: process.pid });
    if (result === undefined) code = 99;
    else if (result !== 0) code = 1;
  }
  process.exit(code);
}
const code = answer(args);
process.exit(code ?? 99);
