import autocannon from 'autocannon';
import { percentile } from '../lib/stats.ts';
import { BENCH_TOKEN, START_BODY, START_PATH } from './types.ts';

/** What one timed autocannon run measured. */
export interface LoadResult {
  connections: number;
  seconds: number;
  /** Mean requests per second over the run (autocannon's `requests.average`). */
  rps: number;
  /** Latency of the 2xx answers, ms, to the microsecond (autocannon's own histogram keeps whole ms). */
  p50: number;
  p99: number;
  /** Answers by class; anything but 2xx makes the sample invalid. */
  ok: number;
  non2xx: number;
  /** Connection errors, timeouts included. */
  errors: number;
}

/**
 * Posts starts of the no-op task to `url` over `connections` keep-alive connections, one request
 * in flight on each (no pipelining: a browser or an API client waits for its answer), for
 * `seconds`. Runs in the caller's process, never the server's.
 */
export function postStarts(url: string, connections: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${url}${START_PATH}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_TOKEN}` },
        body: START_BODY,
        connections,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
      },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error);
        resolve({
          connections,
          seconds,
          rps: result.requests.average,
          p50: round(percentile(latencies, 50)),
          p99: round(percentile(latencies, 99)),
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) latencies.push(ms);
    });
  });
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
