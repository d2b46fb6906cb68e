import type { z } from 'zod';
import { ValidationError } from './errors.ts';
import type { AnyTask } from './task.ts';

/** The tasks one process knows, by name, with params validation. */
export class TaskRegistry {
  readonly #tasks = new Map<string, AnyTask>();

  constructor(tasks: Iterable<AnyTask> = []) {
    for (const task of tasks) this.add(task);
  }

  add(task: AnyTask): void {
    if (this.#tasks.has(task.name)) throw new TypeError(`Two tasks are named "${task.name}".`);
    this.#tasks.set(task.name, task);
  }

  get(name: string): AnyTask | undefined {
    return this.#tasks.get(name);
  }

  /** Throws a ValidationError naming the known tasks when there is no such task. */
  require(name: unknown): AnyTask {
    const task = typeof name === 'string' ? this.#tasks.get(name) : undefined;
    if (!task) {
      const known = [...this.#tasks.keys()].join(', ') || 'none';
      throw new ValidationError(`Unknown task "${String(name)}". Known tasks: ${known}.`, [], {});
    }
    return task;
  }

  names(): string[] {
    return [...this.#tasks.keys()];
  }

  all(): AnyTask[] {
    return [...this.#tasks.values()];
  }

  /** Validates params against the task's schema; the reasons, one per field, on failure. */
  parseParams(task: AnyTask, params: unknown): unknown {
    const parsed = task.params.safeParse(params ?? {});
    if (parsed.success) return parsed.data;
    throw new ValidationError(`The params for task "${task.name}" are not valid.`, formatIssues(parsed.error));
  }
}

function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? `params.${issue.path.map(String).join('.')}` : 'params';
    return `${path}: ${issue.message}`;
  });
}
