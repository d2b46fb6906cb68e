import { openEventStream } from './sse-reader.ts';
import { isFinished, type JobProgress, type JobSnapshot, type JobStatus } from './types.ts';

/** What the feed knows of an unfinished job. */
export type FeedJob = Pick<JobSnapshot, 'id' | 'status' | 'progress' | 'cancelRequested'> & Partial<JobSnapshot>;

/** One change the feed heard: `snapshot` after every (re)connect, then `progress` and `status`. */
export type FeedChange =
  | { type: 'snapshot'; jobs: FeedJob[] }
  | { type: 'progress'; id: string; progress: JobProgress; known: boolean }
  | { type: 'status'; id: string; status: JobStatus; cancelRequested: boolean; known: boolean };

type Listener = (change: FeedChange, feed: JobFeed) => void;

/**
 * What is wrong with the stream: refused for good (signed out, say), or `failures` connection
 * attempts in a row that failed (0: connected again). Heard apart from the changes, by who asks.
 */
export type FeedTrouble = { refused: true } | { refused: false; failures: number };
type TroubleListener = (trouble: FeedTrouble) => void;

const feeds = new Map<string, JobFeed>();

/**
 * The caller's unfinished jobs, live, from `GET {api}/events`: one event stream per page however
 * many lists and indicators listen (browsers allow only six connections per host on HTTP/1.1).
 */
export class JobFeed {
  /** Unfinished jobs by id. */
  readonly jobs = new Map<string, FeedJob>();
  readonly #listeners = new Set<Listener>();
  readonly #troubleListeners = new Set<TroubleListener>();
  #trouble: FeedTrouble | null = null;
  #close: (() => void) | null = null;
  readonly #url: string;
  #ready = false;

  constructor(url: string) {
    this.#url = url;
  }

  /** The feed of this API path, shared by everything on the page. */
  static of(api: string): JobFeed {
    let feed = feeds.get(api);
    if (!feed) {
      feed = new JobFeed(`${api}/events`);
      feeds.set(api, feed);
    }
    return feed;
  }

  /**
   * Listens (and to the stream's trouble, if `onTrouble`); a late listener first hears the
   * current state as a snapshot, and the trouble there is. Returns the unsubscribe.
   */
  listen(listener: Listener, onTrouble?: TroubleListener): () => void {
    this.#listeners.add(listener);
    if (onTrouble) this.#troubleListeners.add(onTrouble);
    if (this.#ready) listener({ type: 'snapshot', jobs: [...this.jobs.values()] }, this);
    if (this.#trouble) onTrouble?.(this.#trouble);
    this.#open();
    return () => {
      this.#listeners.delete(listener);
      if (onTrouble) this.#troubleListeners.delete(onTrouble);
      if (this.#listeners.size === 0) {
        this.#close?.();
        this.#close = null;
        this.#ready = false;
        this.#trouble = null;
      }
    };
  }

  #open(): void {
    if (this.#close) return;
    // A refused stream (signed out, say) is not tried again: the page keeps what it shows, and
    // whoever listens to the trouble says why.
    this.#close = openEventStream(
      this.#url,
      {},
      {
        snapshot: (data: { jobs: FeedJob[] }) => {
          this.jobs.clear();
          for (const job of data.jobs) this.jobs.set(job.id, job);
          this.#ready = true;
          this.#emit({ type: 'snapshot', jobs: [...this.jobs.values()] });
        },
        progress: ({ id, progress }) => {
          const job = this.jobs.get(id);
          if (job) job.progress = progress;
          this.#emit({ type: 'progress', id, progress, known: !!job });
        },
        status: ({ id, status, cancelRequested }) => {
          const job = this.jobs.get(id);
          const known = !!job;
          if (isFinished(status)) this.jobs.delete(id);
          else if (job) Object.assign(job, { status, cancelRequested });
          else this.jobs.set(id, { id, status, cancelRequested, progress: null });
          this.#emit({ type: 'status', id, status, cancelRequested: !!cancelRequested, known });
        },
      },
      () => this.#troubled({ refused: true }),
      (failures) => this.#troubled({ refused: false, failures }),
    );
  }

  #troubled(trouble: FeedTrouble): void {
    this.#trouble = trouble;
    for (const listener of this.#troubleListeners) listener(trouble);
  }

  #emit(change: FeedChange): void {
    for (const listener of this.#listeners) listener(change, this);
  }
}
