import { afterAll, inject } from 'vitest';
import { copyApp, nodeTitle, rootsWith, startApp, stopAll } from './harness.ts';
import { describeHost } from './host-suite.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

// Fastify 5, underway registered with underwayFastify from 'underway/fastify'.
for (const root of rootsWith(setup, 'fastify')) {
  describeHost(`Fastify 5 app, ${nodeTitle(root)}`, {
    host: 'fastify',
    root,
    worker: 'in-process',
    start: (root) => {
      copyApp(root, 'fastify');
      return startApp(root, 'fastify');
    },
  });
}
