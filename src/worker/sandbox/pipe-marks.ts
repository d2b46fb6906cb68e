type Stream = 'stdout' | 'stderr';

/**
 * Markers a child wrote on both its pipes in the middle of a job (before a ctx.transaction
 * commit), and what waits for them: once a marker came through stdout and stderr, every line the
 * child wrote before it has been read. A marker may arrive before anyone waits for it (the pipes
 * and the IPC channel race), so the ones seen are kept for the job's life.
 */
export class PipeMarks {
  readonly #seen = new Map<string, Set<Stream>>();
  readonly #waiters = new Map<string, () => void>();

  /** A marker line read on `stream`. */
  add(marker: string, stream: Stream): void {
    const streams = this.#seen.get(marker) ?? new Set<Stream>();
    streams.add(stream);
    this.#seen.set(marker, streams);
    if (streams.size === 2) this.#waiters.get(marker)?.();
  }

  /**
   * Resolves once `marker` came through both pipes, or after `ms` (a task that replaced its
   * stdout sends none, as for the end marker: its lines are not waited for).
   */
  wait(marker: string, ms: number): Promise<void> {
    if (this.#seen.get(marker)?.size === 2) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.set(marker, () => {
        this.#waiters.delete(marker);
        done();
      });
    });
  }
}
