import { describe, expect, it } from 'vitest';
import { Batcher } from '../src/store/batcher.ts';

/** A batch function whose calls wait until released, recording what each batch held. */
function gatedRun() {
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  const run = (inputs: number[]) => {
    batches.push(inputs);
    return new Promise<number[]>((resolve) => gates.push(() => resolve(inputs.map((n) => n * 10))));
  };
  return { batches, gates, run };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('answers each caller from one call per turn, and gathers calls made meanwhile into the next', async () => {
    const { batches, gates, run } = gatedRun();
    const batcher = new Batcher(run);
    const first = [batcher.add(1), batcher.add(2)];
    await nextTurn();
    const second = [batcher.add(3), batcher.add(4)];
    await nextTurn();
    expect(batches).toEqual([[1, 2]]); // one at a time by default
    gates.shift()?.();
    expect(await Promise.all(first)).toEqual([10, 20]);
    await nextTurn();
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    gates.shift()?.();
    expect(await Promise.all(second)).toEqual([30, 40]);
    await batcher.settled();
  });

  it('runs up to inFlight batches at once, and settled() waits for all of them', async () => {
    const { batches, gates, run } = gatedRun();
    const batcher = new Batcher(run, { inFlight: 2 });
    const answers = [batcher.add(1)];
    await nextTurn();
    answers.push(batcher.add(2));
    await nextTurn();
    answers.push(batcher.add(3));
    await nextTurn();
    expect(batches).toEqual([[1], [2]]);
    let settled = false;
    const settling = batcher.settled().then(() => {
      settled = true;
    });
    gates.shift()?.();
    await nextTurn();
    expect(batches).toEqual([[1], [2], [3]]);
    gates.shift()?.();
    gates.shift()?.();
    await settling;
    expect(settled).toBe(true);
    expect(await Promise.all(answers)).toEqual([10, 20, 30]);
  });

  it('rejects every caller of a failed batch, and goes on with the next', async () => {
    let fail = true;
    const batcher = new Batcher(async (inputs: number[]) => {
      if (fail) throw new Error('store down');
      return inputs;
    });
    const failed = [batcher.add(1), batcher.add(2)];
    await expect(Promise.all(failed)).rejects.toThrow('store down');
    await expect(failed[1]).rejects.toThrow('store down');
    fail = false;
    expect(await batcher.add(3)).toBe(3);
    await batcher.settled();
  });
});
