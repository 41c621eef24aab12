import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO } from './fakes.js';

/** The CLI tests run the built CLI; `make test` builds it first. */
export default function setup(): void {
  if (!existsSync(path.join(REPO, 'dist/.built'))) {
    throw new Error('the CLI is not built: run the tests with `make test` (it builds first)');
  }
}
