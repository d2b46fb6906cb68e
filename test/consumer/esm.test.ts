import { afterAll, inject } from 'vitest';
import { copyApp, nodeTitle, rootsWith, startApp, stopAll } from './harness.ts';
import { describeHost } from './host-suite.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

// A plain JavaScript ESM app on node:http, run with `node` and no loader; its worker is sandboxed.
for (const root of rootsWith(setup, 'esm')) {
  describeHost(`plain ESM app on node:http, ${nodeTitle(root)}`, {
    host: 'node:http',
    root,
    worker: 'sandbox',
    start: (root) => {
      copyApp(root, 'esm');
      return startApp(root, 'esm');
    },
  });
}
