/**
 * `gatehouse run`: start the supervisor in the foreground and stop it
 * cleanly on SIGTERM or SIGINT.
 */
import { LogStream } from '../log/stream.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { resolveRunOptions, type RawRunOptions } from '../supervisor/options.js';

export async function runCommand(raw: RawRunOptions): Promise<number> {
  const options = resolveRunOptions(raw);
  const logStream = LogStream.forStream(process.stdout);
  const supervisor = await Supervisor.start({ ...options, logStream });

  return new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      supervisor.log.info('signal received; draining', { signal });
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      supervisor.stop().then(
        () => {
          resolve(0);
        },
        (error: unknown) => {
          supervisor.log.error('stop failed', {
            error: error instanceof Error ? error : String(error),
          });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
