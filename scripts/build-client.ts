/**
 * Builds the browser bundle (src/client → dist/client/underway-client.js) and prints its size,
 * raw and gzipped. Servers build it in memory on first use anyway; this is for publishing, and
 * for watching the size (the aim is under 6 KB gzipped).
 *
 * Run: node --import tsx scripts/build-client.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildClientBundle, CLIENT_BUILT } from '../src/http/dashboard/client-bundle.ts';

const started = performance.now();
const text = await buildClientBundle();
const ms = Math.round(performance.now() - started);
mkdirSync(dirname(CLIENT_BUILT), { recursive: true });
writeFileSync(CLIENT_BUILT, text);
const raw = Buffer.byteLength(text);
const gzip = gzipSync(text, { level: 9 }).byteLength;
console.log(
  `${relative(process.cwd(), CLIENT_BUILT)}: ${(raw / 1024).toFixed(1)} KB, ${(gzip / 1024).toFixed(1)} KB gzipped (built in ${ms} ms)`,
);
