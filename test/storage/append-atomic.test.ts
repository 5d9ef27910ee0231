import { describe, expect, it } from 'vitest';
import { TributaryError } from '../../src/errors.ts';
import { decodeRecordBatch, encodeRecordBatch } from '../../src/format/record-batch.ts';
import { LogStore, type StoredTopic } from '../../src/storage/log-store.ts';
import { OffsetStore } from '../../src/storage/offset-store.ts';
import { onCleanup, rec, silentLogger, storeOptions, tempDir } from '../helpers/temp.ts';

function open(dir = tempDir()) {
  const store = new LogStore(storeOptions(dir));
  onCleanup(() => store.close());
  return { store, offsets: new OffsetStore(store, silentLogger) };
}

const batch = (...values: string[]) => encodeRecordBatch(values.map((v) => rec(v)));
const spec = (name: string, partitions = 1) => ({ name, partitions, retentionMs: -1, retentionBytes: -1 });

function values(store: LogStore, topic: StoredTopic, partition = 0): [number, string][] {
  const out: [number, string][] = [];
  for (const b of store.read(topic, partition, store.partitionState(topic.id, partition)!.logStartOffset, 1 << 30).batches)
    for (const r of decodeRecordBatch(b)) out.push([r.offset, r.value!.toString()]);
  return out;
}

describe('LogStore.appendAtomic', () => {
  it('stores the batches and the offset commit together, and both survive a reopen', async () => {
    const dir = tempDir();
    const { store, offsets } = open(dir);
    const input = store.createTopic(spec('in'));
    const out = store.createTopic(spec('out', 2));
    await store.append(out, 1, batch('x'), undefined, false);
    const before = store.stats().groupTxns;
    const results = await store.appendAtomic(
      [
        { topic: out, partition: 0, batch: batch('a', 'b') },
        { topic: out, partition: 1, batch: batch('c') },
        { topic: out, partition: 0, batch: batch('d') },
      ],
      true,
      offsets.offsetWrite('g:etl', [{ topicId: input.id, partition: 0, offset: 42, metadata: 'm' }], () => null),
    );
    expect(store.stats().groupTxns - before).toBe(1);
    expect(results).toEqual([
      { baseOffset: 0, duplicate: false },
      { baseOffset: 1, duplicate: false },
      { baseOffset: 2, duplicate: false },
    ]);
    expect(offsets.get('g:etl', input.id, 0)).toMatchObject({ offset: 42, metadata: 'm' });
    await store.close();

    const again = open(dir);
    const out2 = again.store.getTopic('out')!;
    expect(values(again.store, out2, 0)).toEqual([[0, 'a'], [1, 'b'], [2, 'd']]);
    expect(values(again.store, out2, 1)).toEqual([[0, 'x'], [1, 'c']]);
    expect(again.offsets.get('g:etl', input.id, 0)?.offset).toBe(42);
  });

  it('keeps nothing of a unit whose check fails inside the transaction; appends of the same turn and later ones get the right offsets', async () => {
    const dir = tempDir();
    const { store, offsets } = open(dir);
    const out = store.createTopic(spec('out'));
    let generation = 1;
    const plain1 = store.append(out, 0, batch('p1'), undefined, false);
    const unit = store.appendAtomic(
      [{ topic: out, partition: 0, batch: batch('u1', 'u2', 'u3') }],
      false,
      offsets.offsetWrite('g:etl', [{ topicId: 9, partition: 0, offset: 5, metadata: '' }], () =>
        generation === 1 ? null : new TributaryError('ILLEGAL_GENERATION', 'generation 1 is stale'),
      ),
    );
    const plain2 = store.append(out, 0, batch('p2'), undefined, false);
    // The group moved on before the transaction ran: the check sees it.
    generation = 2;
    await expect(unit).rejects.toMatchObject({ codeName: 'ILLEGAL_GENERATION' });
    expect([(await plain1).baseOffset, (await plain2).baseOffset]).toEqual([0, 1]);
    expect((await store.append(out, 0, batch('p3'), undefined, false)).baseOffset).toBe(2);
    expect(values(store, out)).toEqual([[0, 'p1'], [1, 'p2'], [2, 'p3']]);
    expect(offsets.get('g:etl', 9, 0)).toBeUndefined();
    expect(store.partitionState(out.id, 0)).toMatchObject({ nextOffset: 3 });
    // A check that throws (a caller's bug) refuses its unit only; storage stays writable.
    await expect(store.appendAtomic([{ topic: out, partition: 0, batch: batch('z') }], false, { check: () => { throw new Error('bug'); }, write: () => undefined })).rejects.toMatchObject({ codeName: 'UNKNOWN' });
    expect(store.failed).toBeNull();
    await store.close();
    const again = open(dir);
    expect(values(again.store, again.store.getTopic('out')!)).toEqual([[0, 'p1'], [1, 'p2'], [2, 'p3']]);
    expect(again.offsets.get('g:etl', 9, 0)).toBeUndefined();
  });

  it('keeps nothing of a unit one of whose topics was deleted before its transaction, nor of one refused at admission', async () => {
    const { store, offsets } = open();
    const a = store.createTopic(spec('a'));
    const b = store.createTopic(spec('b'));
    const unit = store.appendAtomic(
      [
        { topic: a, partition: 0, batch: batch('a1') },
        { topic: b, partition: 0, batch: batch('b1') },
      ],
      true,
      offsets.offsetWrite('g:etl', [{ topicId: a.id, partition: 0, offset: 1, metadata: '' }], () => null),
    );
    store.deleteTopic('b');
    await expect(unit).rejects.toMatchObject({ codeName: 'UNKNOWN_TOPIC' });
    expect(store.partitionState(a.id, 0)).toMatchObject({ nextOffset: 0, bytes: 0 });
    expect(values(store, a)).toEqual([]);
    expect(offsets.get('g:etl', a.id, 0)).toBeUndefined();

    await expect(
      store.appendAtomic(
        [
          { topic: a, partition: 0, batch: batch('a1') },
          { topic: a, partition: 3, batch: batch('a2') },
        ],
        false,
        offsets.offsetWrite('g:etl', [{ topicId: a.id, partition: 0, offset: 1, metadata: '' }], () => null),
      ),
    ).rejects.toMatchObject({ codeName: 'INVALID_PARTITION' });
    expect(() => offsets.offsetWrite('g:etl', [{ topicId: a.id, partition: 0, offset: 1, metadata: 'm'.repeat(5000) }], () => null)).toThrow(
      expect.objectContaining({ codeName: 'INVALID_REQUEST' }),
    );
    expect((await store.append(a, 0, batch('ok'), undefined, false)).baseOffset).toBe(0);
    expect(offsets.get('g:etl', a.id, 0)).toBeUndefined();
  });
});
