export type { ListenerState } from './listener.ts';
export type { PgQueryable, PostgresEnqueueOptions, PostgresStore, PostgresStoreOptions } from './postgres-store.ts';
export { postgresStore } from './postgres-store.ts';
