import type { ScheduleView } from '../../schedule/schedules.ts';
import type { PauseJson } from '../routes/tasks.ts';
import { Ago } from './parts.tsx';

export interface OperationsProps {
  pagesPath: string;
  csrf: string;
  tasks: { name: string; paused: PauseJson | null }[];
  schedules: ScheduleView[];
}

/**
 * What an admin steers besides single jobs: each task, paused or not, with its Pause or Resume
 * button (plain forms: works without JavaScript), and the recurring schedules with their next run.
 */
export function Operations({ pagesPath, csrf, tasks, schedules }: OperationsProps) {
  const hidden = <input type="hidden" name="_csrf" value={csrf} />;
  return (
    <section aria-labelledby="uw-ops-title">
      <h2 id="uw-ops-title">Tasks and schedules</h2>
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
          {tasks.map((task) => {
            const action = `${pagesPath}/tasks/${encodeURIComponent(task.name)}`;
            return (
              <tr data-task={task.name} data-paused={String(task.paused !== null)}>
                <td>{task.name}</td>
                <td>
                  {task.paused ? (
                    <span>
                      <strong>Paused</strong> <Ago iso={task.paused.at} />
                      {task.paused.by && ` by ${task.paused.by}`}
                      {task.paused.reason && <span class="uw-muted"> ({task.paused.reason})</span>}
                    </span>
                  ) : (
                    <span class="uw-muted">Taking jobs</span>
                  )}
                </td>
                <td>
                  {task.paused ? (
                    <form method="post" action={`${action}/resume`}>
                      {hidden}
                      <button type="submit" class="uw-secondary">
                        Resume {task.name}
                      </button>
                    </form>
                  ) : (
                    <form method="post" action={`${action}/pause`} class="uw-inline-form">
                      {hidden}
                      <label>
                        <span class="uw-sr">Why pause {task.name}</span>
                        <input type="text" name="reason" maxlength={500} placeholder="Reason (optional)" />
                      </label>
                      <button type="submit" class="uw-secondary">
                        Pause {task.name}
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            );
          })}
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
