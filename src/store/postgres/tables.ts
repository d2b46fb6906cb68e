/** Letters, digits and underscores: the schema name becomes part of a NOTIFY channel (63 bytes at most). */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,47}$/;

/** The quoted, schema-qualified names every query uses, so one database can hold several underway schemas. */
export interface Tables {
  schema: string;
  /** `"schema"`, quoted for SQL. */
  quotedSchema: string;
  jobs: string;
  logs: string;
  artifacts: string;
  chunks: string;
  migrations: string;
  /** Paused tasks (migration 6) and queues (migration 8). */
  paused: string;
  steps: string;
  /** Recurring schedules (migration 6). */
  schedules: string;
  /** The workers registry (migration 11). */
  workers: string;
  /** Queue depth per minute (migration 13). */
  queueSamples: string;
  notifyFunction: string;
  touchFunction: string;
  /** The claim's choice of due jobs (migration 3). */
  dueFunction: string;
  dedupeIndexName: string;
  /** The NOTIFY channel, as text (for pg_notify) and as a quoted identifier (for LISTEN). */
  channel: string;
  channelLiteral: string;
  channelIdentifier: string;
}

/** Names for one schema; throws a TypeError for a name that could not be used safely. */
export function tablesFor(schema: string): Tables {
  if (!SCHEMA_NAME.test(schema)) {
    throw new TypeError(
      `Schema name ${JSON.stringify(schema)} is not allowed: use letters, digits and _ (at most 48, not starting with a digit).`,
    );
  }
  const q = `"${schema}"`;
  const channel = `underway_${schema}`;
  return {
    schema,
    quotedSchema: q,
    jobs: `${q}.jobs`,
    logs: `${q}.logs`,
    artifacts: `${q}.artifacts`,
    chunks: `${q}.artifact_chunks`,
    migrations: `${q}.migrations`,
    paused: `${q}.paused`,
    steps: `${q}.steps`,
    schedules: `${q}.schedules`,
    workers: `${q}.workers`,
    queueSamples: `${q}.queue_samples`,
    notifyFunction: `${q}.notify_status`,
    touchFunction: `${q}.touch_status`,
    dueFunction: `${q}.due_jobs`,
    dedupeIndexName: 'jobs_dedupe',
    channel,
    channelLiteral: `'${channel}'`,
    channelIdentifier: `"${channel}"`,
  };
}
