import type { Progress, Ui } from '../ui/ui.js';
import type { JobLog } from './job-log.js';

/**
 * The UI a build sees inside a job: its messages go to the job's log as well; its own progress goes
 * to the log only, because whoever follows the job shows the job's progress from queue.json.
 */
export function jobUi(ui: Ui, log: JobLog): Ui {
  const progress = (text: string): Progress => {
    log.line(text);
    return {
      update: (line) => log.line(line),
      succeed: (line) => line && log.line(line),
      fail: (line) => line && log.line(line),
    };
  };
  return {
    json: ui.json,
    quiet: ui.quiet,
    verbose: ui.verbose,
    live: ui.live,
    paint: (colour, text) => ui.paint(colour, text),
    attachLive: (area) => ui.attachLive(area),
    out: (text) => {
      log.line(text);
      ui.out(text);
    },
    info: (text) => {
      log.line(text);
      ui.info(text);
    },
    warn: (text) => {
      log.line(`warning: ${text}`);
      ui.warn(text);
    },
    error: (text) => {
      log.line(`error: ${text}`);
      ui.error(text);
    },
    result: (data, render) => ui.result(data, render),
    progress,
  };
}
