/** How the dashboard looks and pages (HttpOptions `dashboard`). */
export interface DashboardOptions {
  /** The name in the header and the tab title. Default `underway`. */
  title?: string | undefined;
  /** Jobs per page of the list. Default 25. */
  pageSize?: number | undefined;
  /**
   * The longest a page waits for a job before it shows the waiting page instead
   * (`underway.startOrWait`). Default 500 ms.
   */
  acceptableWaitMs?: number | undefined;
}

export const DEFAULT_PAGE_SIZE = 25;
export const DEFAULT_ACCEPTABLE_WAIT_MS = 500;
/** Lines of log the job page shows without JavaScript (the live tail adds to them). */
export const LOG_TAIL_LINES = 200;
