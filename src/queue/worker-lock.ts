import { readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-write.js';
import type { Alive } from './load-queue.js';
import type { QueueStore } from './queue-store.js';

/*
 * One worker at a time: VMLAB_HOME/queue/worker.pid holds the worker's pid. It is claimed and released
 * only while holding the queue lock, so "nothing left to run, release" and "enqueue, is a worker
 * running?" never interleave (a job is never left queued with no worker to come). A pid file whose
 * process is gone (kill -9, reboot) is stale and claimed over.
 */

export async function readWorkerPid(store: QueueStore): Promise<number | undefined> {
  const text = await readFile(store.workerPidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid of the running worker, if there is one. */
export async function runningWorker(store: QueueStore, alive: Alive): Promise<number | undefined> {
  const pid = await readWorkerPid(store);
  return pid !== undefined && alive(pid) ? pid : undefined;
}

/** Call with the queue lock held. True when this process is now the worker. */
export async function claimWorker(store: QueueStore, alive: Alive): Promise<boolean> {
  if ((await runningWorker(store, alive)) !== undefined) return false;
  await writeFileAtomic(store.workerPidFile, `${process.pid}\n`);
  return true;
}

/** Call with the queue lock held. */
export async function releaseWorker(store: QueueStore): Promise<void> {
  if ((await readWorkerPid(store)) === process.pid) await rm(store.workerPidFile, { force: true });
}
