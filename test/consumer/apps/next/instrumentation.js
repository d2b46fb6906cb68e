// Next.js calls register() once per server process: the place to start the worker.
export async function register() {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { isNextBuild } = await import('underway/next');
  if (isNextBuild()) return;
  const { startWorker } = await import('./lib/underway.js');
  startWorker();
}
