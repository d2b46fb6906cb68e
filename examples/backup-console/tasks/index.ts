import type { AnyTask } from 'underway';
import { backupTask } from './backup.ts';
import { type ReadBackup, restoreTask } from './restore.ts';
import { searchTask } from './search.ts';

export { BACKUP_FILE } from './backup.ts';
export type { ReadBackup } from './restore.ts';

/**
 * The backup console's tasks, confined to `root`: every folder they read or write is checked to
 * be inside it, by the params schema (so the API answers 400) and again on disk (symlinks).
 */
export function backupConsoleTasks(options: { root: string; readBackup: ReadBackup }): AnyTask[] {
  return [backupTask(options.root), restoreTask(options.root, options.readBackup), searchTask(options.root)];
}
