/**
 * A reader that goes away (`underway logs ID | head -1`) makes the next write to stdout fail with
 * EPIPE, which Node emits as an 'error' event on process.stdout: unhandled, the CLI died with an
 * uncaught-exception stack. Here a command that prints and ends stops at once, quietly, with the
 * exit code it had so far (0 unless set); `serve` and `worker` (`keepRunningOnClosedPipes`) go on,
 * their output to that stream dropped: a server must not stop because a log pipe closed.
 */
let keepRunning = false;
let installed = false;

export function handleClosedPipes(): void {
  if (installed) return;
  installed = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
      if (keepRunning) return;
      process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    });
  }
}

/** For long-running commands: a closed stdout or stderr drops their output instead of ending them. */
export function keepRunningOnClosedPipes(): void {
  keepRunning = true;
}
