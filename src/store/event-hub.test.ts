import { describe, expect, it } from 'vitest';
import { EventHub } from './event-hub.ts';
import type { JobEvent } from './store.ts';

const status = (jobId: string, status: 'queued' | 'running'): JobEvent => ({
  type: 'status',
  jobId,
  task: 't',
  owner: null,
  status,
  cancelRequested: false,
});

/** Each listener's log of what it heard, as `jobId:status`. */
function heardBy(hub: EventHub, count: number): string[][] {
  return Array.from({ length: count }, () => {
    const heard: string[] = [];
    hub.add((event) => {
      if (event.type === 'status') heard.push(`${event.jobId}:${event.status}`);
    });
    return heard;
  });
}

describe('EventHub', () => {
  it('delivers an event a listener sends after the one it is hearing has reached every listener', () => {
    const hub = new EventHub();
    // The first listener acts at once, as a worker claims on hearing `queued`.
    hub.add((event) => {
      if (event.type === 'status' && event.status === 'queued') hub.deliver(status(event.jobId, 'running'));
    });
    const [first, second] = heardBy(hub, 2);
    hub.deliver(status('a', 'queued'));
    expect(first).toEqual(['a:queued', 'a:running']);
    expect(second).toEqual(['a:queued', 'a:running']);
  });

  it('together: changes made in one write are all heard before what a listener does on hearing the first', () => {
    const hub = new EventHub();
    hub.add((event) => {
      if (event.type === 'status' && event.status === 'queued' && event.jobId === 'a') {
        hub.deliver(status('b', 'running'));
      }
    });
    const [heard] = heardBy(hub, 1);
    const result = hub.together(() => {
      hub.deliver(status('a', 'queued'));
      hub.deliver(status('b', 'queued'));
      expect(heard).toEqual([]);
      return 2;
    });
    expect(result).toBe(2);
    expect(heard).toEqual(['a:queued', 'b:queued', 'b:running']);
  });

  it('after a throwing listener (reported as a warning), the others still hear, and nothing is held back', async () => {
    const hub = new EventHub();
    hub.add(() => {
      throw new Error('broken listener');
    });
    const [heard] = heardBy(hub, 1);
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    hub.deliver(status('a', 'queued'));
    expect(() => hub.together(() => hub.deliver(status('b', 'queued')))).not.toThrow();
    expect(heard).toEqual(['a:queued', 'b:queued']);
    expect((await warned).message).toContain('broken listener');
  });

  it('a function given to together that throws still has what it sent delivered, and the error passes', () => {
    const hub = new EventHub();
    const [heard] = heardBy(hub, 1);
    expect(() =>
      hub.together(() => {
        hub.deliver(status('a', 'queued'));
        throw new Error('write failed after the first change');
      }),
    ).toThrow('write failed');
    hub.deliver(status('b', 'queued'));
    expect(heard).toEqual(['a:queued', 'b:queued']);
  });
});
