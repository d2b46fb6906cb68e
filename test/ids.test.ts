import { describe, expect, it } from 'vitest';
import { newJobId, newLeaseToken } from '../src/core/ids.ts';

describe('ids', () => {
  it('are URL-safe, of fixed length, and never repeat across many refills of the random pool', () => {
    const seen = new Set<string>();
    // 16 bytes each: 20,000 ids draw the 4 KiB pool about 80 times.
    for (let i = 0; i < 20_000; i++) {
      const id = newJobId();
      // Never a leading "-", which a command line would take for an option.
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      seen.add(id);
      seen.add(newLeaseToken());
    }
    expect(seen.size).toBe(40_000);
    expect(newLeaseToken()).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
