// The status page's HTML for states a running test broker does not easily reach: a fail-stop, a disk
// budget nearly used, a mirror thread that does not answer, a logger that keeps no list; and names
// that try to close the JSON data block.
import { describe, expect, it } from 'vitest';
import { renderPage } from '../../src/listeners/status-page/render.ts';
import type { StatusSnapshot } from '../../src/listeners/status-page/snapshot.ts';

const hostile = '</script><script>alert(1)</script>';

function snapshot(over: Partial<StatusSnapshot> = {}): StatusSnapshot {
  return {
    timeMs: Date.UTC(2026, 11, 4, 10, 0, 0),
    topics: [],
    clients: { mqtt: null, edge: { count: 0, ids: [] }, kafka: null },
    mirrors: [],
    mirrorsUnavailable: null,
    groups: [{ group: hostile, state: 'empty', members: 0, lag: 3, partitions: [{ topic: 't', partition: 0, committed: -1, logEndOffset: 3, lag: 3, memberId: null }] }],
    storage: {
      logBytes: 900 * 1024 * 1024,
      fileBytes: 1024 * 1024 * 1024,
      mapUsedBytes: 512 * 1024 * 1024,
      diskBudgetBytes: 1024 * 1024 * 1024,
      diskBudgetPolicy: 'drop-oldest',
      freeDiskBytes: 10 * 1024 * 1024,
      minFreeDiskBytes: 64 * 1024 * 1024,
      mapSizeBytes: 1024 * 1024 * 1024,
      maxMapSizeBytes: 2 * 1024 * 1024 * 1024,
      failed: { code: 'STORAGE_FAILED', message: 'fsync failed <EIO>' },
    },
    recentLogs: null,
    mirrorHistory: {},
    ...over,
  };
}

describe('status page render', () => {
  it('keeps user input out of the markup and the JSON data block intact', () => {
    const html = renderPage(snapshot());
    expect(html).not.toContain('<script>alert');
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    const block = /<script type="application\/json" id="status-data">(.*)<\/script>/.exec(html)![1]!;
    expect((JSON.parse(block) as StatusSnapshot).groups[0]!.group).toBe(hostile);
    expect(html).toContain('&#60;/script&#62;&#60;script&#62;alert(1)&#60;/script&#62;');
  });

  it('shows a fail-stop, the budgets with meters, free space below the minimum, an unavailable mirror thread and a logger without a list', () => {
    const html = renderPage(snapshot({ mirrorsUnavailable: 'mirror thread is restarting' }));
    expect(html).toContain('Storage stopped taking writes: <code>STORAGE_FAILED</code> fsync failed &#60;EIO&#62;');
    expect(html).toContain('<meter min="0" max="1073741824" value="943718400"');
    expect(html).toContain('88 %');
    expect(html).toContain('then drop-oldest');
    expect(html).toContain('grows to <span data-bytes="2147483648"');
    // The data file's meter shows what is in use, not the file that never shrinks.
    expect(html).toContain('<meter min="0" max="2147483648" value="536870912"');
    expect(html).toContain('below the minimum');
    expect(html).toContain('Mirror status unavailable: mirror thread is restarting');
    expect(html).toContain('Not recorded');
    expect(html).toContain('MQTT: <span class="off">off</span>');
    expect(html).toContain('<td class="num committed">—</td>');
  });
});
