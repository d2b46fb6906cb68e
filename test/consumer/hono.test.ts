import { afterAll, inject } from 'vitest';
import { copyApp, nodeTitle, rootsWith, startApp, stopAll } from './harness.ts';
import { describeHost } from './host-suite.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

// Hono on @hono/node-server, underway as a middleware: app.use(underway.hono).
for (const root of rootsWith(setup, 'hono')) {
  describeHost(`Hono app, ${nodeTitle(root)}`, {
    host: 'hono',
    root,
    worker: 'in-process',
    start: (root) => {
      copyApp(root, 'hono');
      return startApp(root, 'hono');
    },
  });
}
