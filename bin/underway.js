#!/usr/bin/env node
// Loads TypeScript (underway's own sources and the user's underway.config.ts) through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
