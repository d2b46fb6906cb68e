import { z } from 'zod';
import { JOB_STATUSES, MAX_PRIORITY, MIN_PRIORITY } from '../core/job.ts';
import { MAX_LIST_LIMIT } from '../store/store.ts';
import { BulkBody } from './routes/bulk.ts';
import { ShareBody, StartBody } from './routes/jobs.ts';
import { ScheduleBody } from './routes/schedules.ts';
import { PauseBody } from './routes/tasks.ts';

type Schema = Record<string, unknown>;
type Operation = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const nullable = (schema: Schema): Schema => ({ anyOf: [schema, { type: 'null' }] });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const dateTime = { type: 'string', format: 'date-time' };

function bodySchema(schema: z.ZodType): Schema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Schema;
  return rest;
}

const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [String(code), { description: ERROR_TEXT[code] ?? 'Error', content: json(ref('Error')) }]),
  );
const ERROR_TEXT: Record<number, string> = {
  400: 'Invalid input (details lists each problem)',
  401: 'No user, token or valid share link',
  403: 'CSRF check failed, or not allowed to start this task',
  404: 'Unknown, or not visible to the caller',
  409: 'Not possible in the job’s current state',
  413: 'Request body too large',
  429: 'Too many job starts (Retry-After)',
  503: 'Store unreachable',
};

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const scheduleParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const taskParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const queueParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const shareParam = {
  name: 'share',
  in: 'query',
  required: false,
  description: 'A share-link token: read-only access to this one job.',
  schema: { type: 'string' },
};
const sse = (description: string) => ({
  description,
  content: { 'text/event-stream': { schema: { type: 'string' } } },
});

/**
 * The OpenAPI 3.1 description of the API, served at `{basePath}/openapi.json`. A test checks that
 * its paths are exactly the app's routes.
 */
export function openApiDocument(options: {
  basePath: string;
  /** Where the browser bundle and stylesheet are served (`{pagesPath}/assets/…`). */
  pagesPath: string;
  healthPath: string | false;
  metricsPath: string | false;
}) {
  const b = options.basePath;
  const paths: Record<string, Record<string, Operation>> = {
    [`${b}/tasks`]: {
      get: {
        summary: 'The tasks this server knows, each with its params as JSON Schema',
        responses: { 200: { description: 'Tasks', content: json(ref('TaskList')) }, ...errors(401) },
      },
    },
    [`${b}/schedules`]: {
      get: {
        summary: 'The recurring schedules, each with its next run times (admins)',
        responses: { 200: { description: 'Schedules', content: json(ref('ScheduleList')) }, ...errors(401, 403) },
      },
    },
    [`${b}/schedules/{name}`]: {
      put: {
        summary: 'Add a schedule, or replace the one of this name (admins); bad timing or params: 400',
        parameters: [scheduleParam],
        requestBody: { required: true, content: json(bodySchema(ScheduleBody)) },
        responses: {
          201: { description: 'Added', content: json(ref('Schedule')) },
          200: { description: 'Replaced', content: json(ref('Schedule')) },
          ...errors(400, 401, 403),
        },
      },
      delete: {
        summary: 'Remove a schedule (the jobs it started stay) (admins)',
        parameters: [scheduleParam],
        responses: { 204: { description: 'Removed' }, ...errors(401, 403, 404) },
      },
    },
    [`${b}/tasks/{name}/pause`]: {
      post: {
        summary: 'Pause a task (admins): its running jobs finish, its queued ones wait until it is resumed',
        parameters: [taskParam],
        requestBody: { required: false, content: json(bodySchema(PauseBody)) },
        responses: {
          200: {
            description: 'Paused (the pause in force: the first, if it was paused already)',
            content: json(ref('TaskPause')),
          },
          ...errors(400, 401, 403, 404),
        },
      },
    },
    [`${b}/tasks/{name}/resume`]: {
      post: {
        summary: 'Resume a paused task (admins): workers take its jobs again within their poll interval',
        parameters: [taskParam],
        responses: {
          200: { description: 'Not paused (any more)', content: json(ref('TaskPause')) },
          ...errors(401, 403, 404),
        },
      },
    },
    [`${b}/queues`]: {
      get: {
        summary: 'The queues with their limits, pause and counts now (admins)',
        responses: {
          200: {
            description: 'Every queue a task uses or the limits name',
            content: json({
              type: 'object',
              required: ['queues'],
              properties: { queues: { type: 'array', items: ref('Queue') } },
            }),
          },
          ...errors(401, 403),
        },
      },
    },
    [`${b}/stats`]: {
      get: {
        summary:
          "The operators' overview (admins): jobs per task and status, started/succeeded/failed per minute over the last hour and per 30 min over the last day, run-time percentiles, queues, workers",
        responses: {
          200: { description: 'The figures now', content: json(ref('Stats')) },
          ...errors(401, 403),
        },
      },
    },
    [`${b}/queues/{name}/pause`]: {
      post: {
        summary: "Pause a queue (admins): every task's jobs in it wait; running ones finish",
        parameters: [queueParam],
        requestBody: { required: false, content: json(bodySchema(PauseBody)) },
        responses: {
          200: { description: 'Paused (the pause in force)', content: json(ref('TaskPause')) },
          ...errors(400, 401, 403, 404),
        },
      },
    },
    [`${b}/queues/{name}/resume`]: {
      post: {
        summary: 'Resume a paused queue (admins)',
        parameters: [queueParam],
        responses: {
          200: { description: 'Not paused (any more)', content: json(ref('TaskPause')) },
          ...errors(401, 403, 404),
        },
      },
    },
    [`${b}/jobs`]: {
      post: {
        summary: 'Start a job',
        requestBody: { required: true, content: json(bodySchema(StartBody)) },
        responses: {
          201: { description: 'Started (Location: the job)', content: json(ref('Job')) },
          200: { description: 'A queued or running job with this dedupeKey already exists', content: json(ref('Job')) },
          ...errors(400, 401, 403, 413, 429, 503),
        },
      },
      get: {
        summary: 'List jobs, newest first',
        parameters: [
          {
            name: 'status',
            in: 'query',
            schema: { type: 'string' },
            description: 'One status, or several comma-separated',
          },
          { name: 'task', in: 'query', schema: { type: 'string' } },
          { name: 'owner', in: 'query', schema: { type: 'string' }, description: 'Admins only' },
          {
            name: 'parent',
            in: 'query',
            schema: { type: 'string' },
            description: 'The child jobs of this job (ctx.spawn)',
          },
          {
            name: 'q',
            in: 'query',
            schema: { type: 'string' },
            description: 'Jobs whose id starts with this text or whose params contain it, any case',
          },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT } },
          { name: 'cursor', in: 'query', schema: { type: 'string' } },
        ],
        responses: { 200: { description: 'A page', content: json(ref('JobPage')) }, ...errors(400, 401) },
      },
    },
    [`${b}/jobs/bulk`]: {
      post: {
        summary:
          'Cancel, retry or delete the jobs matching a filter, newest first, a batch at a time (yours; an admin: anyone’s)',
        description:
          'At most `limit` jobs are acted on per call; a non-null `nextCursor` means more may match: send it back as `cursor`. ' +
          'A job that changed meanwhile is `skipped`, with the reason. A retry takes one start from the rate limit: ' +
          'out of starts, the call stops there (429 when not even one could be retried).',
        requestBody: { required: true, content: json(bodySchema(BulkBody)) },
        responses: {
          200: { description: 'What was done, and where to carry on', content: json(ref('BulkResult')) },
          ...errors(400, 401, 403, 429, 503),
        },
      },
    },
    [`${b}/jobs/{id}`]: {
      get: {
        summary: 'One job',
        parameters: [idParam, shareParam],
        responses: { 200: { description: 'The job', content: json(ref('Job')) }, ...errors(401, 404) },
      },
      delete: {
        summary: 'Forget a finished job, its logs and files',
        parameters: [idParam],
        responses: { 204: { description: 'Removed' }, ...errors(401, 403, 404, 409) },
      },
    },
    [`${b}/jobs/{id}/cancel`]: {
      post: {
        summary: 'Ask a queued or running job to stop',
        parameters: [idParam],
        responses: {
          202: { description: 'Cancel requested', content: json(ref('Job')) },
          ...errors(401, 403, 404, 409),
        },
      },
    },
    [`${b}/jobs/{id}/retry`]: {
      post: {
        summary: 'Run a failed or cancelled job again, as a new job',
        parameters: [idParam],
        responses: {
          201: { description: 'The new job', content: json(ref('Job')) },
          ...errors(401, 403, 404, 409, 429),
        },
      },
    },
    [`${b}/jobs/{id}/share`]: {
      post: {
        summary: 'Make a signed, expiring, read-only link to the job',
        parameters: [idParam],
        requestBody: { required: false, content: json(bodySchema(ShareBody)) },
        responses: { 201: { description: 'The link', content: json(ref('ShareLink')) }, ...errors(400, 401, 403, 404) },
      },
    },
    [`${b}/jobs/{id}/events`]: {
      get: {
        summary: 'Live events of one job: snapshot, progress, status, log; ends after the final status',
        parameters: [idParam, shareParam, { name: 'Last-Event-ID', in: 'header', schema: { type: 'string' } }],
        responses: { 200: sse('Server-sent events'), ...errors(401, 404) },
      },
    },
    [`${b}/jobs/{id}/logs`]: {
      get: {
        summary: 'What the job printed, one line per line: `<time> <stream> <text>`',
        parameters: [idParam, shareParam, { name: 'since', in: 'query', schema: { type: 'integer', minimum: 0 } }],
        responses: {
          200: {
            description: 'Log lines; the Underway-Next-Since header is the `since` for the rest',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...errors(400, 401, 404),
        },
      },
    },
    [`${b}/jobs/{id}/progress`]: {
      get: {
        summary: "The job's progress over time: at most one sample a second, halved to the last 200 or so",
        parameters: [idParam, shareParam],
        responses: {
          200: {
            description: 'Oldest first; each attempt reports its own',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['id', 'samples'],
                  properties: {
                    id: { type: 'string' },
                    samples: {
                      type: 'array',
                      items: {
                        type: 'object',
                        required: ['at', 'current', 'total', 'percent', 'attempt'],
                        properties: {
                          at: dateTime,
                          current: { type: 'number' },
                          total: nullable({ type: 'number' }),
                          percent: nullable({ type: 'number' }),
                          attempt: { type: 'integer' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          ...errors(401, 404),
        },
      },
    },
    [`${b}/jobs/{id}/artifacts/{name}`]: {
      get: {
        summary: 'A file the job produced',
        parameters: [idParam, { name: 'name', in: 'path', required: true, schema: { type: 'string' } }, shareParam],
        responses: {
          200: {
            description: 'The file (Content-Disposition: attachment)',
            content: { '*/*': { schema: { type: 'string', format: 'binary' } } },
          },
          ...errors(401, 404),
        },
      },
    },
    [`${b}/events`]: {
      get: {
        summary: "Live status and progress of every job the caller may see (snapshot: the caller's unfinished jobs)",
        responses: { 200: sse('Server-sent events'), ...errors(401) },
      },
    },
    [`${b}/csrf`]: {
      get: {
        summary: 'A CSRF token (also set as a cookie) for cookie-authenticated POST and DELETE',
        responses: { 200: { description: 'The token', content: json(ref('CsrfToken')) } },
      },
    },
    [`${b}/webhooks/deliveries`]: {
      get: {
        summary: 'Recent webhook deliveries of every process, from the store (admins)',
        parameters: [
          { name: 'job', in: 'query', schema: { type: 'string' }, description: 'One job’s deliveries' },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200 } },
        ],
        responses: {
          200: { description: 'Newest first', content: json(ref('WebhookDeliveryList')) },
          ...errors(401, 404),
        },
      },
    },
    [`${b}/jobs/{id}/webhooks`]: {
      get: {
        summary: 'The job’s webhook deliveries and their tries (owner and admins; not through a share link)',
        parameters: [idParam],
        responses: {
          200: {
            description: 'Newest first; for the owner each URL is cut to its origin',
            content: json(ref('WebhookDeliveryList')),
          },
          ...errors(401, 404),
        },
      },
    },
    [`${b}/openapi.json`]: {
      get: {
        summary: 'This document',
        responses: { 200: { description: 'OpenAPI 3.1', content: json({ type: 'object' }) } },
      },
    },
  };
  if (options.healthPath !== false) {
    paths[options.healthPath] = {
      get: {
        summary: 'Liveness and store reachability',
        responses: { 200: { description: 'OK', content: json({ type: 'object' }) }, ...errors(503) },
      },
    };
  }
  if (options.metricsPath !== false) {
    paths[options.metricsPath] = {
      get: {
        summary: 'Prometheus metrics, for admins and the metrics token',
        responses: {
          200: { description: 'Text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errors(401, 403),
        },
      },
    };
  }
  const asset = (summary: string, type: string) => ({
    get: {
      summary,
      responses: {
        200: { description: 'The file', content: { [type]: { schema: { type: 'string' } } } },
        304: { description: 'Unchanged (ETag)' },
      },
    },
  });
  paths[`${options.pagesPath}/assets/underway-client.js`] = asset(
    'The browser bundle: the SDK and the <underway-progress> and <underway-indicator> web components',
    'text/javascript',
  );
  paths[`${options.pagesPath}/assets/underway.css`] = asset(
    "The components' stylesheet, scoped under their own tags (it styles nothing of the host page)",
    'text/css',
  );
  paths[`${options.pagesPath}/assets/underway-pages.css`] = asset("The dashboard pages' own stylesheet", 'text/css');
  return {
    openapi: '3.1.0',
    info: { title: 'underway HTTP API', version: '1.0.0' },
    paths,
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        share: { type: 'apiKey', in: 'query', name: 'share' },
      },
    },
    security: [{ bearer: [] }, {}],
  };
}

const SCHEMAS: Record<string, Schema> = {
  Error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string' },
          message: { type: 'string' },
          details: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
  Progress: {
    type: 'object',
    required: ['current', 'total', 'percent', 'message', 'etaSeconds', 'updatedAt'],
    properties: {
      current: { type: 'number' },
      total: nullable({ type: 'number' }),
      percent: nullable({ type: 'number' }),
      message: nullable({ type: 'string' }),
      etaSeconds: nullable({ type: 'number' }),
      updatedAt: dateTime,
    },
  },
  JobError: {
    type: 'object',
    required: ['message', 'code'],
    properties: { message: { type: 'string' }, code: { type: 'string' }, detail: nullable({ type: 'string' }) },
  },
  Job: {
    type: 'object',
    required: [
      'id',
      'task',
      'status',
      'progress',
      'params',
      'result',
      'error',
      'attempt',
      'maxAttempts',
      'cancelRequested',
      'owner',
      'createdAt',
      'runAt',
      'startedAt',
      'finishedAt',
      'urls',
    ],
    properties: {
      id: { type: 'string' },
      task: { type: 'string' },
      status: { enum: [...JOB_STATUSES] },
      progress: nullable(ref('Progress')),
      params: {},
      result: {},
      error: nullable(ref('JobError')),
      attempt: { type: 'integer' },
      maxAttempts: { type: 'integer' },
      cancelRequested: { type: 'boolean' },
      owner: nullable({ type: 'string' }),
      createdAt: dateTime,
      runAt: dateTime,
      startedAt: nullable(dateTime),
      finishedAt: nullable(dateTime),
      urls: {
        type: 'object',
        required: ['self', 'page', 'events'],
        properties: {
          self: { type: 'string' },
          page: { type: 'string' },
          events: { type: 'string' },
          logs: { type: 'string' },
        },
      },
      artifacts: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            size: { type: 'integer' },
            contentType: { type: 'string' },
            createdAt: dateTime,
            url: { type: 'string' },
          },
        },
      },
      retryOf: nullable({ type: 'string' }),
      timeoutSeconds: nullable({ type: 'number' }),
      priority: { type: 'integer', minimum: MIN_PRIORITY, maximum: MAX_PRIORITY },
      queue: { type: 'string' },
      concurrencyKey: nullable({ type: 'string' }),
      parentId: nullable({ type: 'string', description: 'The job whose ctx.spawn started this one' }),
      childName: nullable({ type: 'string', description: 'Its name among its parent’s children' }),
      workerId: nullable({
        type: 'string',
        description: 'The worker running its current attempt, or that ran its latest one',
      }),
      attempts: {
        type: 'array',
        description:
          'The attempts that ended without ending the job, oldest first (the last 50); the current or final attempt is the job itself',
        items: {
          type: 'object',
          required: ['attempt', 'workerId', 'startedAt', 'endedAt', 'outcome', 'runAt', 'error'],
          properties: {
            attempt: {
              type: 'integer',
              description: 'A released or waiting attempt is not counted: the next has its number',
            },
            workerId: nullable({ type: 'string' }),
            startedAt: nullable(dateTime),
            endedAt: dateTime,
            outcome: {
              enum: ['retry', 'stalled', 'released', 'waited'],
              description:
                'Failed and retried; lease expired and reaped; handed back by a stopping worker; asleep for its child jobs',
            },
            runAt: nullable({
              ...dateTime,
              description: 'When the job was due again; null while asleep for its children',
            }),
            error: nullable({
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' } },
            }),
          },
        },
      },
      children: nullable({
        type: 'object',
        description: 'On GET /jobs/{id}: how its child jobs stand, and where to list them; null without any',
        required: ['total', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'done', 'url'],
        properties: {
          total: { type: 'integer' },
          queued: { type: 'integer' },
          running: { type: 'integer' },
          succeeded: { type: 'integer' },
          failed: { type: 'integer' },
          cancelled: { type: 'integer' },
          done: { type: 'number', description: 'Their bars added up, each child counting 1 at most' },
          url: { type: 'string', description: 'GET /jobs?parent={id}' },
        },
      }),
      waiting: nullable({
        type: 'object',
        description: 'On reads (GET /jobs/{id}, GET /jobs): why a queued job has not started; null once it has',
        required: ['reason', 'text'],
        properties: {
          reason: {
            type: 'string',
            enum: [
              'scheduled',
              'task paused',
              'queue paused',
              'queue full',
              'key full',
              'rate limit',
              'key rate limit',
              'children',
              'worker',
            ],
          },
          text: { type: 'string', description: 'For people: "waiting: queue full (2 of 2 running)"' },
        },
      }),
      steps: {
        type: 'object',
        description: 'On GET /jobs/{id}: the steps recorded (ctx.step), and where the latest attempt resumed',
        required: ['recorded', 'resumed'],
        properties: {
          recorded: { type: 'integer' },
          resumed: nullable({
            type: 'object',
            required: ['attempt', 'afterStep', 'recorded'],
            properties: {
              attempt: { type: 'integer' },
              afterStep: { type: 'string' },
              recorded: { type: 'integer', description: 'Steps recorded before that attempt started' },
            },
          }),
        },
      },
    },
  },
  JobPage: {
    type: 'object',
    required: ['jobs', 'nextCursor'],
    properties: { jobs: { type: 'array', items: ref('Job') }, nextCursor: nullable({ type: 'string' }) },
  },
  BulkResult: {
    type: 'object',
    required: ['action', 'dryRun', 'matched', 'done', 'skipped', 'nextCursor'],
    properties: {
      action: { enum: ['cancel', 'retry', 'delete'] },
      dryRun: { type: 'boolean' },
      matched: {
        type: 'integer',
        description: 'Jobs found matching: done plus skipped, or in a dry run those that would be',
      },
      done: { type: 'array', items: { type: 'string' }, description: 'Ids of the jobs acted on, newest first' },
      skipped: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'reason'],
          properties: { id: { type: 'string' }, reason: { type: 'string' } },
        },
      },
      nextCursor: nullable({ type: 'string' }),
    },
  },
  TaskList: {
    type: 'object',
    required: ['tasks'],
    properties: {
      tasks: {
        type: 'array',
        items: {
          type: 'object',
          required: ['name', 'params'],
          properties: {
            name: { type: 'string' },
            description: nullable({ type: 'string' }),
            params: { type: 'object', description: 'JSON Schema of the params' },
            maxAttempts: { type: 'integer' },
            timeoutSeconds: nullable({ type: 'number' }),
            priority: { type: 'integer' },
            paused: nullable(ref('Pause')),
          },
        },
      },
    },
  },
  Schedule: {
    type: 'object',
    required: ['name', 'task', 'cron', 'everySeconds', 'timezone', 'params', 'nextAt', 'nextRuns'],
    properties: {
      name: { type: 'string' },
      task: { type: 'string' },
      cron: nullable({ type: 'string' }),
      everySeconds: nullable({ type: 'integer' }),
      timezone: nullable({ type: 'string' }),
      params: {},
      owner: nullable({ type: 'string' }),
      priority: { type: 'integer' },
      catchUpSeconds: { type: 'integer' },
      nextAt: dateTime,
      lastTickAt: nullable(dateTime),
      nextRuns: { type: 'array', items: dateTime },
      source: { enum: ['config', 'runtime'] },
      createdBy: nullable({ type: 'string' }),
      createdAt: dateTime,
      updatedAt: dateTime,
    },
  },
  ScheduleList: {
    type: 'object',
    required: ['schedules'],
    properties: { schedules: { type: 'array', items: ref('Schedule') } },
  },
  Pause: {
    type: 'object',
    required: ['by', 'reason', 'at'],
    properties: { by: nullable({ type: 'string' }), reason: nullable({ type: 'string' }), at: dateTime },
  },
  TaskPause: {
    type: 'object',
    required: ['name', 'paused'],
    properties: { name: { type: 'string' }, paused: nullable(ref('Pause')) },
  },
  Queue: {
    type: 'object',
    required: ['name', 'tasks', 'limits', 'paused', 'usage'],
    properties: {
      name: { type: 'string' },
      tasks: { type: 'array', items: { type: 'string' } },
      limits: nullable({
        type: 'object',
        properties: {
          concurrency: nullable({ type: 'integer' }),
          perKey: nullable({ type: 'integer' }),
          rate: nullable({
            type: 'object',
            properties: { starts: { type: 'integer' }, perSeconds: { type: 'number' } },
          }),
          ratePerKey: nullable({
            type: 'object',
            properties: { starts: { type: 'integer' }, perSeconds: { type: 'number' } },
          }),
        },
      }),
      paused: nullable(ref('Pause')),
      usage: {
        type: 'object',
        properties: {
          due: { type: 'integer' },
          running: { type: 'integer' },
          startedInWindow: { type: 'integer', description: 'Started within the rate window (0 without a rate limit)' },
          oldestDueAt: nullable(dateTime),
        },
      },
    },
  },
  StatsSeries: {
    type: 'object',
    required: ['bucketMs', 'since', 'buckets', 'runTimes'],
    properties: {
      bucketMs: { type: 'integer' },
      since: dateTime,
      buckets: {
        type: 'array',
        description: 'Every bucket, oldest first, zeros too',
        items: {
          type: 'object',
          required: ['at', 'started', 'succeeded', 'failed'],
          properties: {
            at: dateTime,
            started: { type: 'integer', description: 'Attempts started (still running, or ended since)' },
            succeeded: { type: 'integer' },
            failed: { type: 'integer' },
          },
        },
      },
      runTimes: {
        type: 'array',
        description: 'Per task, of the attempts that succeeded or failed in the window (nearest rank, milliseconds)',
        items: {
          type: 'object',
          required: ['task', 'count', 'p50', 'p95', 'p99'],
          properties: {
            task: { type: 'string' },
            count: { type: 'integer' },
            p50: { type: 'number' },
            p95: { type: 'number' },
            p99: { type: 'number' },
          },
        },
      },
    },
  },
  DepthSeries: {
    type: 'object',
    required: ['bucketMs', 'since', 'buckets'],
    properties: {
      bucketMs: { type: 'integer' },
      since: dateTime,
      buckets: {
        type: 'array',
        description: 'The highest sample in each bucket; null where none was taken (no worker ran)',
        items: {
          type: 'object',
          required: ['at', 'due', 'running'],
          properties: { at: dateTime, due: nullable({ type: 'integer' }), running: nullable({ type: 'integer' }) },
        },
      },
    },
  },
  Stats: {
    type: 'object',
    required: ['at', 'counts', 'lastHour', 'lastDay', 'queues', 'depth', 'workers'],
    properties: {
      at: dateTime,
      counts: {
        type: 'array',
        description: 'Per task: how many jobs are in each status now',
        items: {
          type: 'object',
          required: ['task', 'queued', 'running', 'succeeded', 'failed', 'cancelled'],
          properties: {
            task: { type: 'string' },
            queued: { type: 'integer' },
            running: { type: 'integer' },
            succeeded: { type: 'integer' },
            failed: { type: 'integer' },
            cancelled: { type: 'integer' },
          },
        },
      },
      lastHour: ref('StatsSeries'),
      lastDay: ref('StatsSeries'),
      queues: { type: 'array', items: ref('Queue') },
      depth: {
        type: 'object',
        description: "Every queue's waiting (due) and running jobs together, from the workers' samples once a minute",
        required: ['lastHour', 'lastDay'],
        properties: { lastHour: ref('DepthSeries'), lastDay: ref('DepthSeries') },
      },
      workers: {
        type: 'array',
        description: 'The workers registry: alive ones first (seen within 3 heartbeats), dead ones until pruned',
        items: {
          type: 'object',
          required: [
            'id',
            'host',
            'pid',
            'concurrency',
            'tasks',
            'startedAt',
            'seenAt',
            'alive',
            'heartbeatMs',
            'running',
          ],
          properties: {
            id: { type: 'string', description: "The id it claims with: a running job's workerId" },
            host: { type: 'string' },
            pid: { type: 'integer' },
            concurrency: { type: 'integer' },
            tasks: { type: 'array', items: { type: 'string' } },
            startedAt: dateTime,
            seenAt: dateTime,
            alive: { type: 'boolean' },
            heartbeatMs: { type: 'integer' },
            running: {
              type: 'array',
              items: {
                type: 'object',
                properties: { id: { type: 'string' }, task: { type: 'string' }, startedAt: nullable(dateTime) },
              },
            },
          },
        },
      },
    },
  },
  ShareLink: {
    type: 'object',
    required: ['token', 'expiresAt', 'urls'],
    properties: { token: { type: 'string' }, expiresAt: dateTime, urls: { type: 'object' } },
  },
  WebhookDelivery: {
    type: 'object',
    required: ['id', 'jobId', 'url', 'type', 'state', 'attempts', 'nextAttemptAt', 'createdAt', 'log'],
    properties: {
      id: { type: 'string', description: 'The webhook-id header: the same on every try and for every URL' },
      jobId: { type: 'string' },
      url: {
        type: 'string',
        description:
          "A webhook's URL (its origin, for the job's owner), or mailto: and the address the owner's e-mail went to",
      },
      type: { enum: ['job.succeeded', 'job.failed', 'job.cancelled'] },
      state: { enum: ['pending', 'delivered', 'failed'] },
      attempts: { type: 'integer' },
      nextAttemptAt: nullable(dateTime),
      lastStatus: nullable({ type: 'integer' }),
      lastError: nullable({ type: 'string' }),
      createdAt: dateTime,
      updatedAt: dateTime,
      log: {
        type: 'array',
        items: {
          type: 'object',
          required: ['at', 'status', 'error', 'ms'],
          properties: {
            at: dateTime,
            status: nullable({ type: 'integer', description: 'The HTTP status; for an e-mail the SMTP reply code' }),
            error: nullable({ type: 'string' }),
            ms: { type: 'number' },
            to: { type: 'string', description: 'An e-mail: the address it was sent to' },
          },
        },
      },
    },
  },
  WebhookDeliveryList: {
    type: 'object',
    required: ['deliveries'],
    properties: { deliveries: { type: 'array', items: ref('WebhookDelivery') } },
  },
  CsrfToken: {
    type: 'object',
    required: ['token', 'headerName'],
    properties: { token: { type: 'string' }, headerName: { type: 'string' }, cookieName: { type: 'string' } },
  },
};
