/**
 * The three kinds of failure a user can meet. Each carries what happened and what to do next;
 * main.ts is the only place that turns them into output and exit codes.
 */

/** A mistake the user can fix: bad input, a missing prerequisite, an unknown name. */
export class UserError extends Error {
  constructor(
    message: string,
    /** The exact next step, e.g. "Run: make setup". */
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export interface ConfigIssue {
  /** Dotted path inside the file, e.g. "machines.web.cpus"; empty for the whole file. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** Every problem in one configuration file, reported together. */
export class ConfigError extends UserError {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
    hint?: string,
  ) {
    // A file the user wrote that does not say what it must: bad input, like a bad argument.
    super(ConfigError.format(file, issues), hint, 2);
    this.name = 'ConfigError';
  }

  static format(file: string, issues: ConfigIssue[]): string {
    return issues
      .map((issue) => {
        const where = issue.line ? `:${issue.line}${issue.column ? `:${issue.column}` : ''}` : '';
        const field = issue.path ? `${issue.path}: ` : '';
        return `${file}${where}: ${field}${issue.message}`;
      })
      .join('\n');
  }
}

/** An external program that ran and failed. */
export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number,
    readonly stderr: string,
    readonly hint?: string,
  ) {
    super(`${argv.join(' ')} exited with ${exitCode}${CommandError.tail(stderr)}`);
    this.name = 'CommandError';
  }

  static tail(stderr: string, lines = 12): string {
    const text = stderr.trim();
    if (!text) return '';
    return '\n' + text.split('\n').slice(-lines).map((line) => `  | ${line}`).join('\n');
  }
}

/** The user pressed Ctrl-C (or the process got SIGTERM) while we were working. */
export class InterruptedError extends UserError {
  constructor(what: string) {
    super(`interrupted while ${what}`, undefined, 130);
    this.name = 'InterruptedError';
  }
}
