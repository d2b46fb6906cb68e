import { StoreError } from '../core/errors.ts';
import type { EventChannel } from '../store/event-channel.ts';
import type { JobEvent, Store } from '../store/store.ts';

/**
 * The store of `underway serve --wait-for-store` until it answers: the HTTP server listens from
 * the start, so a platform's health check gets `/healthz` 503 ("The job store is not reachable")
 * instead of a refused connection, and every other call fails with STORE_UNAVAILABLE, which the
 * API answers 503. Once the real store answers, `resolve` hands it over: from then on every call
 * goes straight to it, and the subscriptions made meanwhile (the API's event fan-out) move to it.
 *
 *   pending ──resolve(store)──▶ ready
 */
export class PendingStore implements Store {
  readonly #kind: string;
  #store: Store | null = null;
  /** Subscriptions made while pending; each gets the real store's unsubscribe at resolve. */
  readonly #early = new Map<(event: JobEvent) => void, (() => void) | null>();

  constructor(kind: string) {
    this.#kind = kind;
  }

  get kind(): string {
    return this.#store?.kind ?? this.#kind;
  }

  resolve(store: Store): void {
    this.#store = store;
    for (const listener of this.#early.keys()) this.#early.set(listener, store.events.listen(listener));
  }

  #ready(): Store {
    if (this.#store) return this.#store;
    throw new StoreError('STORE_UNAVAILABLE', `The ${this.#kind} store is not reachable yet (waiting for it).`);
  }

  // Async wrappers, so that "not ready" is a rejected promise like any other store failure.
  migrate: Store['migrate'] = async () => this.#ready().migrate();
  enqueue: Store['enqueue'] = async (input, options) => this.#ready().enqueue(input, options);
  enqueueMany: Store['enqueueMany'] = async (inputs, options) => this.#ready().enqueueMany(inputs, options);
  claim: Store['claim'] = async (request) => this.#ready().claim(request);
  claimLimited: Store['claimLimited'] = async (request) => this.#ready().claimLimited(request);
  heartbeat: Store['heartbeat'] = async (leases, leaseMs) => this.#ready().heartbeat(leases, leaseMs);
  saveProgress: Store['saveProgress'] = async (lease, progress, sample) =>
    this.#ready().saveProgress(lease, progress, sample);
  progressSamples: Store['progressSamples'] = async (id) => this.#ready().progressSamples(id);
  finish: Store['finish'] = async (lease, outcome) => this.#ready().finish(lease, outcome);
  release: Store['release'] = async (lease) => this.#ready().release(lease);
  requestCancel: Store['requestCancel'] = async (id) => this.#ready().requestCancel(id);
  get: Store['get'] = async (id) => this.#ready().get(id);
  list: Store['list'] = async (filter) => this.#ready().list(filter);
  counts: Store['counts'] = async () => this.#ready().counts();
  remove: Store['remove'] = async (id) => this.#ready().remove(id);
  appendLogs: Store['appendLogs'] = async (jobId, lines, maxLines) => this.#ready().appendLogs(jobId, lines, maxLines);
  readLogs: Store['readLogs'] = async (jobId, options) => this.#ready().readLogs(jobId, options);
  saveArtifact: Store['saveArtifact'] = async (jobId, artifact) => this.#ready().saveArtifact(jobId, artifact);
  openArtifact: Store['openArtifact'] = async (jobId, name) => this.#ready().openArtifact(jobId, name);
  recordStep: Store['recordStep'] = async (lease, step) => this.#ready().recordStep(lease, step);
  listSteps: Store['listSteps'] = async (jobId) => this.#ready().listSteps(jobId);
  reapExpiredLeases: Store['reapExpiredLeases'] = async () => this.#ready().reapExpiredLeases();
  cleanup: Store['cleanup'] = async (retention) => this.#ready().cleanup(retention);
  nextRunAt: Store['nextRunAt'] = async (tasks) => this.#ready().nextRunAt(tasks);
  pause: Store['pause'] = async (request) => this.#ready().pause(request);
  resume: Store['resume'] = async (target) => this.#ready().resume(target);
  listPauses: Store['listPauses'] = async () => this.#ready().listPauses();
  queueUsage: Store['queueUsage'] = async (request) => this.#ready().queueUsage(request);
  saveSchedule: Store['saveSchedule'] = async (schedule) => this.#ready().saveSchedule(schedule);
  listSchedules: Store['listSchedules'] = async () => this.#ready().listSchedules();
  removeSchedule: Store['removeSchedule'] = async (name) => this.#ready().removeSchedule(name);
  fireSchedule: Store['fireSchedule'] = async (request) => this.#ready().fireSchedule(request);
  stats: Store['stats'] = async (request) => this.#ready().stats(request);
  touchWorker: Store['touchWorker'] = async (worker) => this.#ready().touchWorker(worker);
  removeWorker: Store['removeWorker'] = async (id) => this.#ready().removeWorker(id);
  pruneWorkers: Store['pruneWorkers'] = async (before) => this.#ready().pruneWorkers(before);
  workers: Store['workers'] = async () => this.#ready().workers();
  sampleQueues: Store['sampleQueues'] = async (minute) => this.#ready().sampleQueues(minute);
  queueSamples: Store['queueSamples'] = async (since, until) => this.#ready().queueSamples(since, until);
  // Webhook deliveries: optional members, present here so that webhooks start with the server and
  // work once the real store (which has them, both built-in ones do) is there.
  recordWebhookDeliveries: NonNullable<Store['recordWebhookDeliveries']> = async (request) =>
    this.#member('recordWebhookDeliveries')(request);
  claimWebhookDeliveries: NonNullable<Store['claimWebhookDeliveries']> = async (request) =>
    this.#member('claimWebhookDeliveries')(request);
  settleWebhookDelivery: NonNullable<Store['settleWebhookDelivery']> = async (claim, result) =>
    this.#member('settleWebhookDelivery')(claim, result);
  listWebhookDeliveries: NonNullable<Store['listWebhookDeliveries']> = async (filter) =>
    this.#member('listWebhookDeliveries')(filter);
  pruneWebhookDeliveries: NonNullable<Store['pruneWebhookDeliveries']> = async (before) =>
    this.#member('pruneWebhookDeliveries')(before);
  // Child jobs: optional members too, so that ctx.spawn works once the real store is there.
  spawnChild: NonNullable<Store['spawnChild']> = async (parent, input) => this.#member('spawnChild')(parent, input);
  waitForChildren: NonNullable<Store['waitForChildren']> = async (lease, failuresSeen) =>
    this.#member('waitForChildren')(lease, failuresSeen);
  childSummary: NonNullable<Store['childSummary']> = async (parentId) => this.#member('childSummary')(parentId);
  saveWaitingProgress: NonNullable<Store['saveWaitingProgress']> = async (parentId, progress) =>
    this.#member('saveWaitingProgress')(parentId, progress);

  #member<
    K extends
      | 'recordWebhookDeliveries'
      | 'claimWebhookDeliveries'
      | 'settleWebhookDelivery'
      | 'listWebhookDeliveries'
      | 'pruneWebhookDeliveries'
      | 'spawnChild'
      | 'waitForChildren'
      | 'childSummary'
      | 'saveWaitingProgress',
  >(name: K): NonNullable<Store[K]> {
    const store = this.#ready();
    const member = store[name];
    if (!member) throw new TypeError(`The ${store.kind} store has no ${name}.`);
    return member.bind(store) as NonNullable<Store[K]>;
  }

  readonly events: EventChannel = {
    send: (event) => {
      // Nothing can have changed while pending, so nothing is lost.
      this.#store?.events.send(event);
    },
    listen: (listener) => {
      if (this.#store) return this.#store.events.listen(listener);
      this.#early.set(listener, null);
      return () => {
        this.#early.get(listener)?.();
        this.#early.delete(listener);
      };
    },
  };

  async close(): Promise<void> {
    await this.#store?.close();
  }
}
