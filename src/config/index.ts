export type { UnderwayConfig } from './config.ts';
export { dataDir, defineConfig, openStore } from './config.ts';
