// Groups that hold only committed offsets cost no memory while idle, but every LIST_GROUPS, /groups
// and /metrics scrape walks them: a client that invents group names meets GROUP_FULL at
// limits.groupsStoredMax, and groups already stored keep committing.
import { expect, it } from 'vitest';
import { EdgeClient } from '../../src/client/connection.ts';
import { isTributaryError } from '../../src/errors.ts';
import { limits } from '../../src/limits.ts';
import { startEdgeBroker } from '../helpers/raw-edge.ts';
import { onCleanup } from '../helpers/temp.ts';

it(`stores the offsets of at most ${limits.groupsStoredMax} groups; past that a new group's commit is GROUP_FULL`, async () => {
  const { edge } = await startEdgeBroker();
  const c = await EdgeClient.connect({ port: edge!.port, clientId: 'inventor' });
  onCleanup(() => c.close());
  await c.createTopic({ name: 't', partitions: 1, retentionMs: -2, retentionBytes: -2, grow: false });
  await c.register(1, 't', false);
  const commit = (group: string) => c.commitOffsets({ group, memberId: '', generation: -1, offsets: [{ alias: 1, partition: 0, offset: 0, metadata: '' }] });
  // In windows below the per-connection limit of waiting group requests.
  const window = limits.edgeGroupRequestsInflightMax / 2;
  for (let i = 0; i < limits.groupsStoredMax; i += window) await Promise.all(Array.from({ length: Math.min(window, limits.groupsStoredMax - i) }, (_, j) => commit(`g-${i + j}`)));
  const refused = await commit('one-too-many').catch((err: unknown) => err);
  expect(isTributaryError(refused, 'GROUP_FULL')).toBe(true);
  await commit('g-0');
  expect((await c.listGroups()).length).toBe(limits.groupsStoredMax);
  await c.deleteGroup('g-1');
  await commit('one-too-many');
}, 120_000);
