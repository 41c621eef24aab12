import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, type Context } from '../context.js';
import { QueueStore } from './queue-store.js';

/** How a detached worker is started: the node binary and its argv (tests start their own worker script). */
export type StartWorker = (context: Context) => number | undefined;

/**
 * Start `vmlab worker` detached from this terminal: it outlives make, ignores the terminal's Ctrl-C,
 * and writes its own output to VMLAB_HOME/logs/worker.log. Returns its pid.
 */
export function startDetachedWorker(context: Context, argv: string[] = [path.join(PROJECT_ROOT, 'bin/vmlab'), 'worker']): number | undefined {
  const store = new QueueStore(context.home);
  mkdirSync(store.logDir, { recursive: true });
  const output = openSync(store.workerLog, 'a');
  try {
    const child = spawn(process.execPath, argv, { detached: true, stdio: ['ignore', output, output], env: context.env, cwd: context.labDir });
    child.unref();
    return child.pid;
  } finally {
    closeSync(output);
  }
}
