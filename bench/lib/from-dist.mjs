// `node --import ./bench/lib/from-dist.mjs`: underway from dist/, see dist-hooks.mjs.
import { register } from 'node:module';

register('./dist-hooks.mjs', import.meta.url);
