#!/usr/bin/env node
// The compiled CLI (npm run build). A TypeScript underway.config.ts is loaded through tsx, by the CLI itself.
import { main } from '../dist/cli/main.js';

await main(process.argv.slice(2));
