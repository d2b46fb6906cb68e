/** At most this many calls share one statement; 500 finishes ≈ 150 KB of parameters. */
const MAX_BATCH = 500;

/**
 * Gathers calls made in the same turn of the event loop into one batch (no timer: it adds no
 * latency beyond the current turn), runs the batch with one function call, and answers each caller.
 * A worker finishing 10 jobs together then costs one round trip instead of 10. Calls made while
 * batches run gather into the next; up to `inFlight` batches run at once (a store whose batches
 * touch disjoint rows and wait for a commit can overlap those waits).
 */
export class Batcher<In, Out> {
  readonly #run: (inputs: In[]) => Promise<Out[]>;
  readonly #inFlight: number;
  #queue: { input: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  #running = 0;
  #scheduled = false;
  #idleWaiters: (() => void)[] = [];

  constructor(run: (inputs: In[]) => Promise<Out[]>, options: { inFlight?: number } = {}) {
    this.#run = run;
    this.#inFlight = Math.max(1, options.inFlight ?? 1);
  }

  add(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#startBatches();
          this.#resolveIfIdle();
        });
      }
    });
  }

  /** Resolves when every call added so far has been answered. */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#resolveIfIdle();
    });
  }

  #startBatches(): void {
    while (this.#running < this.#inFlight && this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      this.#running++;
      void this.#runBatch(batch).finally(() => {
        this.#running--;
        this.#startBatches();
        this.#resolveIfIdle();
      });
    }
  }

  #resolveIfIdle(): void {
    if (this.#scheduled || this.#running > 0 || this.#queue.length > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  async #runBatch(batch: { input: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[]) {
    try {
      const outs = await this.#run(batch.map((entry) => entry.input));
      for (const [index, entry] of batch.entries()) entry.resolve(outs[index] as Out);
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }
}
