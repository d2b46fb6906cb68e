import { WAITING_FOR_CHILDREN_MS } from '../../core/children.ts';

/**
 * The SQLite schema, one numbered step at a time. `PRAGMA user_version` records the last step
 * applied; `PRAGMA application_id` marks the file as underway's, so that pointing underway at
 * some other SQLite file fails with a clear message instead of writing into it.
 */
export const APPLICATION_ID = 0x756e6477; // "undw"

export const MIGRATIONS: readonly string[] = [
  /* 1 */ `
  CREATE TABLE underway_jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    task             TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
    params           TEXT    NOT NULL,
    result           TEXT,
    error            TEXT,
    progress         TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner            TEXT,
    dedupe_key       TEXT,
    timeout_seconds  REAL,
    retry_of         TEXT,
    created_at       INTEGER NOT NULL,
    run_at           INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    worker_id        TEXT,
    lease_token      TEXT,
    lease_expires_at INTEGER
  );
  CREATE INDEX underway_jobs_due ON underway_jobs (task, run_at) WHERE status = 'queued';
  CREATE INDEX underway_jobs_leases ON underway_jobs (lease_expires_at) WHERE status = 'running';
  CREATE UNIQUE INDEX underway_jobs_dedupe ON underway_jobs (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
  CREATE INDEX underway_jobs_status ON underway_jobs (status, seq);
  CREATE INDEX underway_jobs_task ON underway_jobs (task, seq);
  CREATE INDEX underway_jobs_owner ON underway_jobs (owner, seq);
  CREATE INDEX underway_jobs_finished ON underway_jobs (finished_at) WHERE finished_at IS NOT NULL;

  CREATE TABLE underway_logs (
    job_id TEXT    NOT NULL,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    stream TEXT    NOT NULL,
    line   TEXT    NOT NULL,
    PRIMARY KEY (job_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE underway_artifacts (
    job_id       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (job_id, name)
  ) WITHOUT ROWID;

  -- Job events, kept for a minute, so that other processes on this machine can follow them.
  CREATE TABLE underway_events (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    body   TEXT    NOT NULL
  );
  `,
  /* 2 */ `
  -- The claim walks the due jobs in (run_at, seq) order and stops after its limit. The first
  -- index led with task, which the planner could not use for that order with a list of tasks:
  -- it read every queued row and sorted them on every claim (2.5 ms a claim with 20,000 queued,
  -- growing with the queue; docs/performance.md). rowid (seq) is the index's last column already.
  DROP INDEX underway_jobs_due;
  CREATE INDEX underway_jobs_due ON underway_jobs (run_at) WHERE status = 'queued';
  `,
  /* 3 */ `
  -- An events row now holds a batch: a JSON array of the events one flush wrote (event-bus.ts).
  -- Rows of the old shape (one event each) live a minute at most; they are dropped rather than
  -- read in two shapes. A process of an older underway refuses this file (schema 3 > 2).
  DELETE FROM underway_events;
  `,
  /* 4 */ `
  -- Webhook deliveries (store/sqlite/webhooks.ts): one row per (job, url), derived from jobs that
  -- ended, so that a delivery survives the process that would send it. Nothing on the finish path
  -- writes here: a process with webhooks configured records them, from the status events it hears
  -- and from a periodic sweep of finished_at (underway_jobs_finished).
  CREATE TABLE underway_webhook_endpoints (
    url      TEXT    PRIMARY KEY,
    since    INTEGER NOT NULL, -- jobs finished from here on are announced (the url's start mark)
    swept_at INTEGER NOT NULL  -- the last sweep; the next looks back from there, less an overlap
  ) WITHOUT ROWID;

  CREATE TABLE underway_webhook_deliveries (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER,
    claim_token TEXT,
    last_status INTEGER,
    last_error  TEXT,
    log         TEXT    NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (job_id, url)
  );
  CREATE INDEX underway_webhook_due ON underway_webhook_deliveries (next_at) WHERE state = 'pending';
  CREATE INDEX underway_webhook_created ON underway_webhook_deliveries (created_at);
  `,
  /* 5 */ `
  -- Priorities: the claim walks this index (higher priority first, then the earliest due) and
  -- stops after its limit; underway_jobs_due stays for nextRunAt (the earliest runAt of all).
  ALTER TABLE underway_jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX underway_jobs_claim ON underway_jobs (priority DESC, run_at, seq) WHERE status = 'queued';

  -- Paused tasks: running jobs finish, the claim skips their queued ones.
  CREATE TABLE underway_paused (
    kind      TEXT    NOT NULL CHECK (kind IN ('task')),
    name      TEXT    NOT NULL,
    paused_by TEXT,
    reason    TEXT,
    paused_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
  ) WITHOUT ROWID;

  -- Recurring schedules: fired by any process, exactly once per tick (fireSchedule moves next_at
  -- in the transaction that adds the tick's jobs, only if nobody moved it first).
  CREATE TABLE underway_schedules (
    name             TEXT    PRIMARY KEY,
    task             TEXT    NOT NULL,
    cron             TEXT,
    every_seconds    INTEGER,
    timezone         TEXT,
    params           TEXT    NOT NULL,
    owner            TEXT,
    priority         INTEGER NOT NULL DEFAULT 0,
    catch_up_seconds INTEGER NOT NULL,
    next_at          INTEGER NOT NULL,
    last_tick_at     INTEGER,
    source           TEXT    NOT NULL CHECK (source IN ('config', 'runtime')),
    created_by       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    CHECK ((cron IS NULL) <> (every_seconds IS NULL))
  ) WITHOUT ROWID;
  `,
  /* 6 */ `
  -- Queues with concurrency limits: a job's queue (its task's, else the task's name) and the key
  -- it counts under. The limited claim walks a queue's due jobs in claim order and counts its
  -- running ones (per key too), both through these indexes.
  ALTER TABLE underway_jobs ADD COLUMN queue TEXT;
  ALTER TABLE underway_jobs ADD COLUMN concurrency_key TEXT;
  UPDATE underway_jobs SET queue = task;
  CREATE INDEX underway_jobs_queue_due ON underway_jobs (queue, priority DESC, run_at, seq) WHERE status = 'queued';
  CREATE INDEX underway_jobs_queue_running ON underway_jobs (queue, concurrency_key) WHERE status = 'running';
  CREATE INDEX underway_jobs_queue_started ON underway_jobs (queue, started_at) WHERE started_at IS NOT NULL;
  `,
  /* 7 */ `
  -- Paused queues: every job of a paused queue waits, whichever task it is of. SQLite cannot
  -- change a CHECK constraint, so the (small) table is made again with the wider one.
  CREATE TABLE underway_paused_new (
    kind      TEXT    NOT NULL CHECK (kind IN ('task', 'queue')),
    name      TEXT    NOT NULL,
    paused_by TEXT,
    reason    TEXT,
    paused_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
  ) WITHOUT ROWID;
  INSERT INTO underway_paused_new (kind, name, paused_by, reason, paused_at)
    SELECT kind, name, paused_by, reason, paused_at FROM underway_paused;
  DROP TABLE underway_paused;
  ALTER TABLE underway_paused_new RENAME TO underway_paused;
  `,
  /* 8 */ `
  -- Resumable steps (ctx.step): a step's result, recorded durably when it returns, so that a later
  -- attempt of the same job returns it without running the step again. Kept and removed with the job.
  CREATE TABLE underway_steps (
    job_id      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    result      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    progress    TEXT,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, name)
  ) WITHOUT ROWID;
  `,
  /* 9 */ `
  -- Child jobs (ctx.spawn, docs/children.md): a child knows its parent and its name there, unique
  -- per parent so that a parent running again gets the same child back. A parent counts the
  -- children it started and those that ended; the trigger counts every child's end, by whichever
  -- statement (finish, cancel, reap, release), and in that same transaction wakes the parent
  -- asleep until then (run_at at the end of time, core/children.ts) once the last one ended, or
  -- at once when one failed or was cancelled (its wait then fails, or goes back to sleep).
  -- children_failed counts those, for a parent going to sleep after its wait read its children:
  -- one that failed in between wakes it at once (store/sqlite/children.ts).
  ALTER TABLE underway_jobs ADD COLUMN parent_id TEXT;
  ALTER TABLE underway_jobs ADD COLUMN child_name TEXT;
  ALTER TABLE underway_jobs ADD COLUMN children_total INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE underway_jobs ADD COLUMN children_ended INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE underway_jobs ADD COLUMN children_failed INTEGER NOT NULL DEFAULT 0;
  CREATE UNIQUE INDEX underway_jobs_children ON underway_jobs (parent_id, child_name) WHERE parent_id IS NOT NULL;
  CREATE TRIGGER underway_child_ended AFTER UPDATE OF status ON underway_jobs
    WHEN NEW.parent_id IS NOT NULL AND OLD.status IN ('queued', 'running')
      AND NEW.status IN ('succeeded', 'failed', 'cancelled')
  BEGIN
    UPDATE underway_jobs SET children_ended = children_ended + 1,
      children_failed = children_failed + (NEW.status <> 'succeeded'),
      run_at = CASE WHEN status = 'queued' AND run_at = ${WAITING_FOR_CHILDREN_MS}
          AND (children_ended + 1 >= children_total OR NEW.status <> 'succeeded')
        THEN CAST(unixepoch('subsec') * 1000 AS INTEGER) ELSE run_at END
    WHERE id = NEW.parent_id;
  END;
  `,
  /* 10 */ `
  -- The workers registry (the Overview page, docs/dashboard.md): a row per worker process,
  -- written when it starts and at each heartbeat tick (one statement), deleted when it stops. A
  -- worker is alive while seen_at is within a few of its beats (beat_ms); rows of workers that
  -- died are pruned by the next worker that starts. What each runs is read from underway_jobs
  -- (worker_id, status 'running').
  CREATE TABLE underway_workers (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    tasks       TEXT    NOT NULL, -- a JSON array of task names
    beat_ms     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  /* 11 */ `
  -- Attempt history (the job page, docs/dashboard.md): a JSON array with one record per attempt
  -- that ended without ending its job (retried, stalled, released, asleep for its children),
  -- appended by the statement that ends that attempt (store/sqlite/attempts.ts), the last 50
  -- kept. NULL for a job whose every attempt ended it: nothing written on the happy path.
  ALTER TABLE underway_jobs ADD COLUMN attempts TEXT;
  `,
  /* 12 */ `
  -- What the job page draws and groups (docs/dashboard.md):
  -- * the attempt that printed each log line (NULL for lines kept from before this step);
  -- * progress over time: a JSON array of [at ms, current, total, attempt] samples, appended by a
  --   progress write at most once a second (store/sqlite/progress.ts), halved when it reaches 200;
  --   never in the job's own columns list, so claims, finishes and lists do not carry it;
  -- * queue depth over time (the Overview): per minute, each queue's due and running jobs and a
  --   '*' row for all of them, written by whichever worker's heartbeat comes first in the minute.
  ALTER TABLE underway_logs ADD COLUMN attempt INTEGER;
  ALTER TABLE underway_jobs ADD COLUMN progress_samples TEXT;
  CREATE TABLE underway_queue_samples (
    at      INTEGER NOT NULL, -- the minute, ms since the epoch
    queue   TEXT    NOT NULL,
    due     INTEGER NOT NULL,
    running INTEGER NOT NULL,
    PRIMARY KEY (at, queue)
  ) WITHOUT ROWID;
  `,
  /* 13 */ `
  -- The owner index only for jobs that have an owner, as PostgreSQL's migration 15: a list by
  -- owner asks for owner = ?, which this index still serves, and a job without one (a worker's,
  -- a schedule's, one started by a program with no sign-in) no longer writes a page of it to the
  -- WAL as it is added (docs/performance.md, run M).
  DROP INDEX underway_jobs_owner;
  CREATE INDEX underway_jobs_owner ON underway_jobs (owner, seq) WHERE owner IS NOT NULL;
  `,
];
