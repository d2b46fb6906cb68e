import type { Child } from 'hono/jsx';
import { limitsText } from '../../queue/limits.ts';
import type { QueueView } from '../../queue/queue.ts';
import type { ScheduleView } from '../../schedule/schedules.ts';
import { type PauseJson, toPauseJson } from '../routes/tasks.ts';
import { Ago } from './parts.tsx';

export interface OperationsProps {
  pagesPath: string;
  csrf: string;
  tasks: { name: string; paused: PauseJson | null }[];
  queues: QueueView[];
  schedules: ScheduleView[];
}

/**
 * What an admin steers besides single jobs: each task and each queue, paused or not, with its
 * Pause or Resume button (plain forms: works without JavaScript), how full each queue is, and the
 * recurring schedules with their next run.
 */
export function Operations({ pagesPath, csrf, tasks, queues, schedules }: OperationsProps) {
  const hidden = <input type="hidden" name="_csrf" value={csrf} />;
  return (
    <section aria-labelledby="uw-ops-title">
      <h2 id="uw-ops-title">Tasks, queues and schedules</h2>
      <table class="uw-jobs uw-ops">
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="uw-sr">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((task) => (
            <tr data-task={task.name} data-paused={String(task.paused !== null)}>
              <td>{task.name}</td>
              <td>
                <PauseState paused={task.paused} />
              </td>
              <td>
                <PauseButton
                  action={`${pagesPath}/tasks/${encodeURIComponent(task.name)}`}
                  name={task.name}
                  paused={task.paused !== null}
                  hidden={hidden}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <table class="uw-jobs uw-ops">
        <caption class="uw-muted">Queues: every task's jobs wait in one (its name unless it names another)</caption>
        <thead>
          <tr>
            <th scope="col">Queue</th>
            <th scope="col">Limits</th>
            <th scope="col">Now</th>
            <th scope="col">State</th>
            <th scope="col">
              <span class="uw-sr">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {queues.map((queue) => (
            <tr data-queue={queue.name} data-paused={String(queue.paused !== null)}>
              <td>{queue.name}</td>
              <td>{limitsText(queue.limit)}</td>
              <td>
                {usageText(queue)}
                {queue.usage.oldestDueAt && (
                  <span class="uw-muted">
                    {' '}
                    · oldest waiting since <Ago iso={queue.usage.oldestDueAt} />
                  </span>
                )}
              </td>
              <td>
                <PauseState paused={queue.paused && toPauseJson(queue.paused)} />
              </td>
              <td>
                <PauseButton
                  action={`${pagesPath}/queues/${encodeURIComponent(queue.name)}`}
                  name={`queue ${queue.name}`}
                  paused={queue.paused !== null}
                  hidden={hidden}
                />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {schedules.length > 0 && (
        <table class="uw-jobs uw-ops">
          <caption class="uw-muted">Recurring schedules (docs/scheduling.md)</caption>
          <thead>
            <tr>
              <th scope="col">Schedule</th>
              <th scope="col">Task</th>
              <th scope="col">When</th>
              <th scope="col">Next run</th>
            </tr>
          </thead>
          <tbody>
            {schedules.map((schedule) => (
              <tr data-schedule={schedule.name}>
                <td>{schedule.name}</td>
                <td>{schedule.task}</td>
                <td>
                  {schedule.everySeconds !== null
                    ? `every ${schedule.everySeconds} s`
                    : `${schedule.cron} (${schedule.timezone ?? 'UTC'})`}
                </td>
                <td>
                  {schedule.nextRuns[0] ? <time datetime={schedule.nextRuns[0]}>{schedule.nextRuns[0]}</time> : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function PauseState({ paused }: { paused: PauseJson | null }) {
  if (!paused) return <span class="uw-muted">Taking jobs</span>;
  return (
    <span>
      <strong>Paused</strong> <Ago iso={paused.at} />
      {paused.by && ` by ${paused.by}`}
      {paused.reason && <span class="uw-muted"> ({paused.reason})</span>}
    </span>
  );
}

/** Resume when paused; else Pause with an optional reason. `name` completes the button's words ("Pause queue emails"). */
function PauseButton({
  action,
  name,
  paused,
  hidden,
}: {
  action: string;
  name: string;
  paused: boolean;
  hidden: Child;
}) {
  if (paused) {
    return (
      <form method="post" action={`${action}/resume`}>
        {hidden}
        <button type="submit" class="uw-secondary">
          Resume {name}
        </button>
      </form>
    );
  }
  return (
    <form method="post" action={`${action}/pause`} class="uw-inline-form">
      {hidden}
      <label>
        <span class="uw-sr">Why pause {name}</span>
        <input type="text" name="reason" maxlength={500} placeholder="Reason (optional)" />
      </label>
      <button type="submit" class="uw-secondary">
        Pause {name}
      </button>
    </form>
  );
}

/** "2 of 2 running · 14 due", the running count against the limit when there is one. */
function usageText(queue: QueueView): string {
  const { running, due } = queue.usage;
  const of = queue.limit?.concurrency != null ? ` of ${queue.limit.concurrency}` : '';
  return `${running}${of} running · ${due} due`;
}
