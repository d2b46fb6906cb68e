/**
 * The environment a sandbox child starts with: nothing is inherited by default. Forked daemons
 * that inherited a web request's environment (proxy settings, a request's credentials,
 * NODE_OPTIONS injecting a debugger) misbehaved in ways nobody could reproduce; a child gets
 * only what is named here, what the runner is told, and what its task declares.
 */

/**
 * Copied from the worker's environment when set: what programs need to find binaries, a home,
 * a temp folder, a locale and a time zone. Windows needs SystemRoot & co. for DNS and crypto.
 * Deliberately absent: NODE_OPTIONS, UNDERWAY_SECRET_KEY, and every credential.
 */
export const DEFAULT_ENV_ALLOW: readonly string[] = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'LC_ALL',
  'LC_CTYPE',
  'TZ',
  'TMPDIR',
  'TMP',
  'TEMP',
  'NODE_ENV',
  'SystemRoot',
  'SystemDrive',
  'ComSpec',
  'PATHEXT',
  'WINDIR',
  'USERPROFILE',
  'APPDATA',
  'LOCALAPPDATA',
  'ProgramData',
];

/** Never passed to a child, whatever a task or option names: the key that opens secret params. */
const NEVER = new Set(['UNDERWAY_SECRET_KEY', 'UNDERWAY_SECRET_KEY_FILE', 'NODE_OPTIONS']);

/**
 * Builds a child's environment: the allowed names that are set in `from`, then `set` on top, and
 * `UNDERWAY_SANDBOX=1` so task code can tell where it runs.
 */
export function childEnv(
  allow: Iterable<string>,
  set: Readonly<Record<string, string>> = {},
  from: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of allow) {
    const value = from[name]; // process.env is case-insensitive on Windows, as names there are.
    if (value !== undefined && !NEVER.has(name.toUpperCase())) env[name] = value;
  }
  for (const [name, value] of Object.entries(set)) if (!NEVER.has(name.toUpperCase())) env[name] = value;
  env.UNDERWAY_SANDBOX = '1';
  return env;
}
