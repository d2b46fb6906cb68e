/**
 * underway/client: the browser side. A small SDK (`start`, `watch` as an async iterator,
 * `cancel`) and two web components, `<underway-progress job="ID">` and `<underway-indicator>`,
 * with no framework needed. Served ready to use as `/assets/underway-client.js` by the dashboard;
 * importable from a bundler as `underway/client` (nothing here may import server code).
 */
import { UnderwayIndicator } from './indicator-element.ts';
import { UnderwayProgress } from './progress-element.ts';

export type { ProgressView } from './format.ts';
export { humanDuration, paintProgress, progressView, stepCaption } from './format.ts';
export { UnderwayIndicator } from './indicator-element.ts';
export { UnderwayProgress } from './progress-element.ts';
export type { ClientOptions, StartOptions, UnderwayClient, WatchOptions } from './sdk.ts';
export { cancel, createClient, start, UnderwayError, watch } from './sdk.ts';
export type { JobError, JobProgress, JobSnapshot, JobStatus, LogEntry, WatchUpdate } from './types.ts';

/** Registers `<underway-progress>` and `<underway-indicator>` (once; safe to call again). */
export function defineElements(registry: CustomElementRegistry = customElements): void {
  if (!registry.get('underway-progress')) registry.define('underway-progress', UnderwayProgress);
  if (!registry.get('underway-indicator')) registry.define('underway-indicator', UnderwayIndicator);
}
