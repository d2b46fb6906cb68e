import { afterAll, inject } from 'vitest';
import { copyApp, nodeTitle, rootsWith, startApp, stopAll } from './harness.ts';
import { describeHost } from './host-suite.ts';

const setup = inject('underwayConsumer');
afterAll(stopAll);

// CommonJS: require('underway'), require('underway/http'), require('underway/sqlite') of ES modules.
for (const root of rootsWith(setup, 'cjs')) {
  describeHost(`CommonJS app on node:http, ${nodeTitle(root)}`, {
    host: 'commonjs',
    root,
    worker: 'in-process',
    start: (root) => {
      copyApp(root, 'cjs');
      return startApp(root, 'cjs');
    },
  });
}
