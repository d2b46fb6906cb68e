import { WAITING_FOR_CHILDREN_AT } from '../../core/children.ts';
import type { Tables } from './tables.ts';

/**
 * The PostgreSQL schema, one numbered step at a time, each a function of the schema's tables so
 * that one database can hold several underway schemas (a schema per app, or per test). The
 * `migrations` table records the steps applied; `migrate` applies the rest under an advisory lock.
 *
 * Types: timestamps `timestamptz`, ids `text`, params/result/error/progress `jsonb`, `seq` a
 * bigserial for ordering and page cursors. `changed_xid` is the transaction that last changed a
 * job's status: after a lost LISTEN connection the listener re-reads exactly the jobs changed by
 * transactions its last snapshot could not see (see listener.ts).
 */
export function migrations(t: Tables): readonly string[] {
  return [
    /* 1 */ `
    CREATE TABLE ${t.jobs} (
      id               text        PRIMARY KEY,
      seq              bigserial   NOT NULL UNIQUE,
      task             text        NOT NULL,
      status           text        NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
      params           jsonb       NOT NULL,
      result           jsonb,
      error            jsonb,
      progress         jsonb,
      attempt          integer     NOT NULL DEFAULT 0,
      max_attempts     integer     NOT NULL,
      cancel_requested boolean     NOT NULL DEFAULT false,
      owner            text,
      dedupe_key       text,
      timeout_seconds  double precision,
      retry_of         text,
      created_at       timestamptz NOT NULL DEFAULT now(),
      run_at           timestamptz NOT NULL,
      started_at       timestamptz,
      finished_at      timestamptz,
      worker_id        text,
      lease_token      text,
      lease_expires_at timestamptz,
      changed_xid      xid8        NOT NULL DEFAULT pg_current_xact_id()
    );
    -- The claim scans this in order and stops after LIMIT rows (docs/postgres.md).
    CREATE INDEX ON ${t.jobs} (run_at, seq) WHERE status = 'queued';
    CREATE INDEX ON ${t.jobs} (lease_expires_at) WHERE status = 'running';
    CREATE UNIQUE INDEX ${t.dedupeIndexName} ON ${t.jobs} (dedupe_key)
      WHERE dedupe_key IS NOT NULL AND status IN ('queued', 'running');
    CREATE INDEX ON ${t.jobs} (status, seq);
    CREATE INDEX ON ${t.jobs} (task, seq);
    CREATE INDEX ON ${t.jobs} (owner, seq);
    CREATE INDEX ON ${t.jobs} (finished_at) WHERE finished_at IS NOT NULL;
    CREATE INDEX ON ${t.jobs} (changed_xid);

    CREATE TABLE ${t.logs} (
      job_id text        NOT NULL,
      seq    integer     NOT NULL,
      at     timestamptz NOT NULL,
      stream text        NOT NULL,
      line   text        NOT NULL,
      PRIMARY KEY (job_id, seq)
    );

    -- An artifact is written in chunks outside any long transaction, then marked complete; a
    -- replaced or abandoned upload is deleted with its chunks (ON DELETE CASCADE).
    CREATE TABLE ${t.artifacts} (
      id           bigserial   PRIMARY KEY,
      job_id       text        NOT NULL,
      name         text        NOT NULL,
      content_type text        NOT NULL,
      size         bigint      NOT NULL DEFAULT 0,
      created_at   timestamptz NOT NULL DEFAULT now(),
      complete     boolean     NOT NULL DEFAULT false
    );
    CREATE UNIQUE INDEX ON ${t.artifacts} (job_id, name) WHERE complete;
    CREATE INDEX ON ${t.artifacts} (job_id);

    CREATE TABLE ${t.chunks} (
      artifact_id bigint  NOT NULL REFERENCES ${t.artifacts} (id) ON DELETE CASCADE,
      n           integer NOT NULL,
      data        bytea   NOT NULL,
      PRIMARY KEY (artifact_id, n)
    );
    -- Out of line and uncompressed: artifacts are mostly archives already, compressing 1 MiB
    -- chunks again costs CPU for nothing.
    ALTER TABLE ${t.chunks} ALTER COLUMN data SET STORAGE EXTERNAL;

    -- Every status change (and every cancel request) notifies, in the changing transaction, so
    -- a rolled-back change is never heard and a committed one is heard by every listener. The
    -- origin (a connection setting of each store's pool) lets the store that made the change,
    -- which delivered the event in-process already, skip its own notification.
    CREATE FUNCTION ${t.notifyFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      event jsonb;
      origin text := coalesce(current_setting('underway.origin', true), '');
      body text;
    BEGIN
      event := jsonb_build_object('type', 'status', 'jobId', NEW.id, 'task', NEW.task, 'owner', NEW.owner,
        'status', NEW.status, 'cancelRequested', NEW.cancel_requested);
      IF NEW.error IS NOT NULL AND NEW.error <> 'null'::jsonb THEN
        event := event || jsonb_build_object('error', NEW.error);
      END IF;
      IF NEW.status = 'succeeded' THEN
        event := event || jsonb_build_object('result', coalesce(NEW.result, 'null'::jsonb));
      END IF;
      body := jsonb_build_object('o', origin, 'e', jsonb_build_array(event))::text;
      -- NOTIFY refuses 8000 bytes or more: a big result travels as a reference, fetched by listeners.
      IF octet_length(body) > 7900 THEN
        body := jsonb_build_object('o', origin, 'e', jsonb_build_array(jsonb_build_object('type', 'ref', 'jobId', NEW.id)))::text;
      END IF;
      PERFORM pg_notify(TG_ARGV[0], body);
      RETURN NULL;
    END
    $fn$;

    CREATE FUNCTION ${t.touchFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      NEW.changed_xid := pg_current_xact_id();
      RETURN NEW;
    END
    $fn$;

    CREATE TRIGGER touch BEFORE UPDATE ON ${t.jobs} FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
      EXECUTE FUNCTION ${t.touchFunction}();
    CREATE TRIGGER notify_insert AFTER INSERT ON ${t.jobs} FOR EACH ROW
      EXECUTE FUNCTION ${t.notifyFunction}(${t.channelLiteral});
    CREATE TRIGGER notify_update AFTER UPDATE ON ${t.jobs} FOR EACH ROW
      WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
      EXECUTE FUNCTION ${t.notifyFunction}(${t.channelLiteral});
    `,
    /* 2 */ `
    -- A claim (queued -> running) no longer notifies from the trigger: the claiming store sends
    -- its jobs' running events through its batched publisher (one NOTIFY per 10 ms per process).
    -- PostgreSQL serialises the commits of transactions that NOTIFY, and a claim per batch of jobs
    -- was one of them: draining no-op jobs spent most of each claim waiting for that lock
    -- (docs/performance.md). Cancel requests on running jobs still notify from here.
    DROP TRIGGER notify_update ON ${t.jobs};
    CREATE TRIGGER notify_update AFTER UPDATE ON ${t.jobs} FOR EACH ROW
      WHEN ((OLD.status IS DISTINCT FROM NEW.status AND NEW.status <> 'running')
        OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
      EXECUTE FUNCTION ${t.notifyFunction}(${t.channelLiteral});
    `,
    /* 3 */ `
    -- The claim's due jobs, in a function that forbids the planner a sort and a bitmap scan, so it
    -- always walks the (run_at, seq) index in order and stops after lim rows. Right after a bulk
    -- enqueue, before autoanalyze has run, the planner estimated 1 due row, chose a bitmap scan
    -- and sorted every queued job on every claim: 11-22 ms per claim of 50 on a fresh queue of
    -- 20,000 against 1.1 ms walking the index (docs/performance.md). ROWS 10: with the default
    -- estimate (1,000) the claim joined the result to a sequential scan of the whole table.
    CREATE FUNCTION ${t.dueFunction}(tasks text[], lim integer) RETURNS SETOF text LANGUAGE sql VOLATILE
      ROWS 10 SET enable_sort = off SET enable_bitmapscan = off AS $fn$
      SELECT id FROM ${t.jobs}
      WHERE status = 'queued' AND run_at <= now() AND task = ANY(tasks)
      ORDER BY run_at, seq
      LIMIT lim
      FOR UPDATE SKIP LOCKED
    $fn$;
    `,
    /* 4 */ `
    -- changed_xid is set by the statements that change a status or a cancel request (queries.ts,
    -- TOUCH), no longer by a row trigger: the trigger's call per row was ~15 % of a claim's and a
    -- finish's time in the database (docs/performance.md).
    DROP TRIGGER touch ON ${t.jobs};
    DROP FUNCTION ${t.touchFunction}();
    `,
    /* 5 */ `
    -- Webhook deliveries (webhooks.ts): one row per (job, url), derived from jobs that ended, so
    -- that a delivery survives the process that would send it. Nothing on the finish path writes
    -- here: a process with webhooks configured sweeps the jobs changed since the snapshot its
    -- endpoint row keeps (changed_xid, as the listener's catch-up does), woken by status events.
    CREATE TABLE ${t.quotedSchema}.webhook_endpoints (
      url      text        PRIMARY KEY,
      seen     pg_snapshot NOT NULL,
      swept_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE ${t.quotedSchema}.webhook_deliveries (
      seq         bigserial   NOT NULL UNIQUE,
      job_id      text        NOT NULL,
      url         text        NOT NULL,
      id          text        NOT NULL,
      event       text        NOT NULL,
      state       text        NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
      attempts    integer     NOT NULL DEFAULT 0,
      next_at     timestamptz,
      claim_token text,
      last_status integer,
      last_error  text,
      log         jsonb       NOT NULL DEFAULT '[]',
      created_at  timestamptz NOT NULL DEFAULT now(),
      updated_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, url)
    );
    CREATE INDEX ON ${t.quotedSchema}.webhook_deliveries (next_at) WHERE state = 'pending';
    CREATE INDEX ON ${t.quotedSchema}.webhook_deliveries (created_at);
    `,
    /* 6 */ `
    -- Priorities: the claim's due jobs come highest priority first, then the earliest, walking
    -- this index in order and stopping after lim rows, as migration 3 made it walk (run_at, seq).
    -- The (run_at, seq) index stays for nextRunAt (the earliest runAt of any queued job).
    ALTER TABLE ${t.jobs} ADD COLUMN priority integer NOT NULL DEFAULT 0;
    CREATE INDEX ON ${t.jobs} (priority DESC, run_at, seq) WHERE status = 'queued';

    -- Paused tasks: running jobs finish, no new claims. The claim takes the tasks it asked for
    -- less the paused ones once (an InitPlan), not per row it walks.
    CREATE TABLE ${t.paused} (
      kind      text        NOT NULL CHECK (kind IN ('task')),
      name      text        NOT NULL,
      paused_by text,
      reason    text,
      paused_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (kind, name)
    );

    -- Recurring schedules: fired by any process, exactly once per tick (fireSchedule moves next_at
    -- in the transaction that adds the tick's jobs, only if nobody moved it first).
    CREATE TABLE ${t.schedules} (
      name             text        PRIMARY KEY,
      task             text        NOT NULL,
      cron             text,
      every_seconds    integer,
      timezone         text,
      params           jsonb       NOT NULL,
      owner            text,
      priority         integer     NOT NULL DEFAULT 0,
      catch_up_seconds integer     NOT NULL,
      next_at          timestamptz NOT NULL,
      last_tick_at     timestamptz,
      source           text        NOT NULL CHECK (source IN ('config', 'runtime')),
      created_by       text,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now(),
      CHECK ((cron IS NULL) <> (every_seconds IS NULL))
    );

    CREATE OR REPLACE FUNCTION ${t.dueFunction}(tasks text[], lim integer) RETURNS SETOF text LANGUAGE sql VOLATILE
      ROWS 10 SET enable_sort = off SET enable_bitmapscan = off AS $fn$
      SELECT id FROM ${t.jobs}
      WHERE status = 'queued' AND run_at <= now()
        AND task = ANY(ARRAY(SELECT unnest(tasks) EXCEPT SELECT name FROM ${t.paused} WHERE kind = 'task'))
      ORDER BY priority DESC, run_at, seq
      LIMIT lim
      FOR UPDATE SKIP LOCKED
    $fn$;
    `,
    /* 7 */ `
    -- Queues with concurrency limits: a job's queue (its task's, else the task's name) and the key
    -- it counts under. The limited claim (queries.ts) walks a queue's due jobs in claim order and
    -- counts its running ones, per key too, through these indexes.
    ALTER TABLE ${t.jobs} ADD COLUMN queue text, ADD COLUMN concurrency_key text;
    UPDATE ${t.jobs} SET queue = task;
    CREATE INDEX ON ${t.jobs} (queue, priority DESC, run_at, seq) WHERE status = 'queued';
    CREATE INDEX ON ${t.jobs} (queue, concurrency_key) WHERE status = 'running';
    CREATE INDEX ON ${t.jobs} (queue, started_at) WHERE started_at IS NOT NULL;
    `,
    /* 8 */ `
    -- Paused queues: every job of a paused queue waits, whichever task it is of. The claim takes
    -- the paused queues once (an InitPlan, as the tasks), and walks the same index as before.
    ALTER TABLE ${t.paused} DROP CONSTRAINT paused_kind_check;
    ALTER TABLE ${t.paused} ADD CONSTRAINT paused_kind_check CHECK (kind IN ('task', 'queue'));

    CREATE OR REPLACE FUNCTION ${t.dueFunction}(tasks text[], lim integer) RETURNS SETOF text LANGUAGE sql VOLATILE
      ROWS 10 SET enable_sort = off SET enable_bitmapscan = off AS $fn$
      SELECT id FROM ${t.jobs}
      WHERE status = 'queued' AND run_at <= now()
        AND task = ANY(ARRAY(SELECT unnest(tasks) EXCEPT SELECT name FROM ${t.paused} WHERE kind = 'task'))
        AND queue <> ALL(ARRAY(SELECT name FROM ${t.paused} WHERE kind = 'queue'))
      ORDER BY priority DESC, run_at, seq
      LIMIT lim
      FOR UPDATE SKIP LOCKED
    $fn$;
    `,
    /* 9 */ `
    -- Resumable steps (ctx.step): a step's result, recorded durably when it returns, so that a
    -- later attempt of the same job returns it without running the step again. Kept and removed
    -- with the job.
    CREATE TABLE ${t.steps} (
      job_id      text        NOT NULL,
      name        text        NOT NULL,
      result      jsonb       NOT NULL,
      attempt     integer     NOT NULL,
      progress    jsonb,
      recorded_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, name)
    );
    `,
    /* 10 */ `
    -- Child jobs (ctx.spawn, docs/children.md): a child knows its parent and its name there, unique
    -- per parent so that a parent running again gets the same child back. A parent counts the
    -- children it started and those that ended. The trigger counts every child's end, whichever
    -- statement made it (finish, cancel, reap, release), in that statement's transaction, and
    -- wakes the parent asleep until then (run_at at the end of time, core/children.ts) once the
    -- last one ended, or at once when one failed or was cancelled (its wait then fails, or goes
    -- back to sleep). children_failed counts those, for a parent going to sleep after its wait
    -- read its children: one that failed in between wakes it at once (children.ts).
    -- Counting on the parent's row, not counting its children's rows: an UPDATE
    -- that waited for the row's lock computes from the row as the other transaction left it, so
    -- two children ending at once in two transactions cannot both miss the other's end (a count
    -- of rows would read a snapshot from before the other's commit, and neither would wake it),
    -- nor can a child's end and its parent's going to sleep (store/postgres/children.ts).
    ALTER TABLE ${t.jobs} ADD COLUMN parent_id text, ADD COLUMN child_name text,
      ADD COLUMN children_total integer NOT NULL DEFAULT 0, ADD COLUMN children_ended integer NOT NULL DEFAULT 0,
      ADD COLUMN children_failed integer NOT NULL DEFAULT 0;
    CREATE UNIQUE INDEX ON ${t.jobs} (parent_id, child_name) WHERE parent_id IS NOT NULL;

    CREATE FUNCTION ${t.quotedSchema}.child_ended() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      UPDATE ${t.jobs} SET children_ended = children_ended + 1,
        children_failed = children_failed + CASE WHEN NEW.status <> 'succeeded' THEN 1 ELSE 0 END,
        run_at = CASE WHEN status = 'queued' AND run_at = '${WAITING_FOR_CHILDREN_AT}'
          AND (children_ended + 1 >= children_total OR NEW.status <> 'succeeded') THEN now() ELSE run_at END,
        changed_xid = CASE WHEN status = 'queued' AND run_at = '${WAITING_FOR_CHILDREN_AT}'
          AND (children_ended + 1 >= children_total OR NEW.status <> 'succeeded')
          THEN pg_current_xact_id() ELSE changed_xid END
      WHERE id = NEW.parent_id;
      RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER child_ended AFTER UPDATE ON ${t.jobs} FOR EACH ROW
      WHEN (NEW.parent_id IS NOT NULL AND OLD.status IN ('queued', 'running')
        AND NEW.status IN ('succeeded', 'failed', 'cancelled'))
      EXECUTE FUNCTION ${t.quotedSchema}.child_ended();
    `,
    /* 11 */ `
    -- The workers registry (the Overview page, docs/dashboard.md): a row per worker process,
    -- written when it starts and at each heartbeat tick (one statement), deleted when it stops. A
    -- worker is alive while seen_at is within a few of its beats (beat_ms); rows of workers that
    -- died are pruned by the next worker that starts. What each runs is read from the jobs
    -- (worker_id, status 'running').
    CREATE TABLE ${t.workers} (
      id          text        PRIMARY KEY,
      host        text        NOT NULL,
      pid         integer     NOT NULL,
      concurrency integer     NOT NULL,
      tasks       jsonb       NOT NULL,
      beat_ms     integer     NOT NULL,
      started_at  timestamptz NOT NULL DEFAULT now(),
      seen_at     timestamptz NOT NULL DEFAULT now()
    );
    `,
    /* 12 */ `
    -- Attempt history (the job page, docs/dashboard.md): one record per attempt that ended without
    -- ending its job (retried, stalled, released, asleep for its children), appended by the
    -- statement that ends that attempt (postgres/queries.ts, appendAttempt), the last 50 kept.
    -- NULL for a job whose every attempt ended it: nothing written on the happy path. Adding a
    -- nullable column without a default rewrites nothing.
    ALTER TABLE ${t.jobs} ADD COLUMN attempts jsonb;
    `,
    /* 13 */ `
    -- What the job page draws and groups (docs/dashboard.md):
    -- * the attempt that printed each log line (NULL for lines kept from before this step);
    -- * progress over time: a jsonb array of [at ms, current, total, attempt] samples, appended by
    --   a progress write at most once a second (postgres/queries.ts, saveProgress), halved when it
    --   reaches 200; never in the job's own columns list, so claims, finishes and lists do not read it;
    -- * queue depth over time (the Overview): per minute, each queue's due and running jobs and a
    --   '*' row for all of them, written by whichever worker's heartbeat comes first in the minute.
    -- Nullable columns without a default rewrite nothing.
    ALTER TABLE ${t.logs} ADD COLUMN attempt integer;
    ALTER TABLE ${t.jobs} ADD COLUMN progress_samples jsonb;
    CREATE TABLE ${t.queueSamples} (
      at      timestamptz NOT NULL,
      queue   text        NOT NULL,
      due     integer     NOT NULL,
      running integer     NOT NULL,
      PRIMARY KEY (at, queue)
    );
    `,
    /* 14 */ `
    -- The due jobs in PL/pgSQL, its plan made once per connection: a SQL function with SET
    -- options is never inlined, so its query was parsed and planned again at every claim, ~1 ms
    -- of a one-job claim's ~1.8 (docs/performance.md, run J). The generic plan is the index walk
    -- the settings force, whatever the table's statistics: what migration 3 wanted of every plan.
    CREATE OR REPLACE FUNCTION ${t.dueFunction}(tasks text[], lim integer) RETURNS SETOF text LANGUAGE plpgsql VOLATILE
      ROWS 10 SET enable_sort = off SET enable_bitmapscan = off SET plan_cache_mode = force_generic_plan AS $fn$
    BEGIN
      RETURN QUERY
      SELECT j.id FROM ${t.jobs} j
      WHERE j.status = 'queued' AND j.run_at <= now()
        AND j.task = ANY(ARRAY(SELECT unnest(tasks) EXCEPT SELECT p.name FROM ${t.paused} p WHERE p.kind = 'task'))
        AND j.queue <> ALL(ARRAY(SELECT p.name FROM ${t.paused} p WHERE p.kind = 'queue'))
      ORDER BY j.priority DESC, j.run_at, j.seq
      LIMIT lim
      FOR UPDATE OF j SKIP LOCKED;
    END
    $fn$;
    `,
    /* 15 */ `
    -- Fewer index entries per status change: a claim and a finish move the row (neither can be a
    -- HOT update, the status is indexed), and each index the new row version matches gets an entry.
    -- * Only jobs with an owner are listed by owner: jobs without one (a worker's own, an app with
    --   no sign-in) add nothing to that index.
    -- * No index on lease_expires_at: the running jobs are few (at most the workers' concurrency and
    --   prefetch) and the (queue, concurrency_key) index holds exactly them, so the reaper and the
    --   Overview walk that one. A claim adds one entry less, and a heartbeat, which changes only
    --   lease_expires_at, can be a HOT update.
    -- A drain of 40,000 no-op jobs: PostgreSQL CPU -8 %, jobs/s +7 % (docs/performance.md, run L).
    DROP INDEX ${t.quotedSchema}.jobs_owner_seq_idx;
    CREATE INDEX jobs_owner_seq_idx ON ${t.jobs} (owner, seq) WHERE owner IS NOT NULL;
    DROP INDEX ${t.quotedSchema}.jobs_lease_expires_at_idx;
    `,
    /* 16 */ `
    -- The NOTIFY payload written as text, not built as jsonb and turned into text: the same JSON
    -- (jsonb's own text for the error and the result), 8.7 -> 5.6 us per row in EXPLAIN ANALYZE of a
    -- 1,000-row finish. Every insert and every status change but a claim calls it.
    CREATE OR REPLACE FUNCTION ${t.notifyFunction}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
      origin text := to_json(coalesce(current_setting('underway.origin', true), ''))::text;
      body text;
    BEGIN
      body := '{"o":' || origin || ',"e":[{"type":"status","jobId":' || to_json(NEW.id)::text
        || ',"task":' || to_json(NEW.task)::text || ',"owner":' || coalesce(to_json(NEW.owner)::text, 'null')
        || ',"status":' || to_json(NEW.status)::text || ',"cancelRequested":' || NEW.cancel_requested::text
        || CASE WHEN NEW.error IS NOT NULL AND NEW.error <> 'null'::jsonb THEN ',"error":' || NEW.error::text ELSE '' END
        || CASE WHEN NEW.status = 'succeeded' THEN ',"result":' || coalesce(NEW.result::text, 'null') ELSE '' END
        || '}]}';
      -- NOTIFY refuses 8000 bytes or more: a big result travels as a reference, fetched by listeners.
      IF octet_length(body) > 7900 THEN
        body := '{"o":' || origin || ',"e":[{"type":"ref","jobId":' || to_json(NEW.id)::text || '}]}';
      END IF;
      PERFORM pg_notify(TG_ARGV[0], body);
      RETURN NULL;
    END
    $fn$;
    `,
    /* 17 */ `
    -- The claim is a prepared statement (postgres-store.ts), its generic plan made once per
    -- connection, whatever the table holds then. Told the due jobs come one at a time, the planner
    -- finds each by its primary key (a nested loop) at every table size; told ten, it joined
    -- them by hashing a sequential scan of the whole table while the table was small, and that
    -- plan stayed as the table grew (docs/performance.md, run N).
    ALTER FUNCTION ${t.dueFunction}(text[], integer) ROWS 1;
    `,
  ];
}
