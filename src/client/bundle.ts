/**
 * The browser bundle (`/assets/underway-client.js`): the SDK, both web components, registered,
 * and the dashboard's page script. Built by esbuild (src/http/dashboard/client-bundle.ts).
 */
import { enhanceDashboard } from './dashboard.ts';
import { defineElements } from './index.ts';

export { UnderwayIndicator } from './indicator-element.ts';
export { UnderwayProgress } from './progress-element.ts';
export { cancel, createClient, start, UnderwayError, watch } from './sdk.ts';

defineElements();
if (document.body?.dataset.underwayPage) enhanceDashboard();
