export type { ScheduleDefinition, UnderwayConfig } from './config.ts';
export { dataDir, defineConfig, openStore } from './config.ts';
