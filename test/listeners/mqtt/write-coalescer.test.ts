import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { WriteCoalescer } from '../../../src/listeners/mqtt/write-coalescer.ts';
import { connectMqtt, startMqttBroker } from '../../helpers/mqtt.ts';
import { onCleanup } from '../../helpers/temp.ts';

/** A Writable that records each batch the stream hands down (one per socket writev). */
function recorder() {
  const batches: string[][] = [];
  const stream = new Writable({
    writev(chunks, done) {
      batches.push(chunks.map((c) => c.chunk.toString()));
      done();
    },
    write(chunk: Buffer, _encoding, done) {
      batches.push([chunk.toString()]);
      done();
    },
  });
  return { stream, batches };
}

describe('write coalescer', () => {
  it('hands the writes of one loop turn down together, to every connection, after the turn', async () => {
    const coalescer = new WriteCoalescer();
    const a = recorder();
    const b = recorder();
    coalescer.install(a.stream as never);
    coalescer.install(b.stream as never);
    // Like aedes: each delivery in a macrotask of its own, within one loop turn.
    await new Promise<void>((resolve) => {
      setImmediate(() => a.stream.write('a1'));
      setImmediate(() => b.stream.write('b1'));
      setImmediate(() => a.stream.write('a2'));
      setImmediate(() => {
        a.stream.write('a3');
        expect(a.batches).toEqual([]);
        resolve();
      });
    });
    await nextTurn();
    await nextTurn();
    expect(a.batches).toEqual([['a1', 'a2', 'a3']]);
    expect(b.batches).toEqual([['b1']]);
    a.stream.write('a4');
    await nextTurn();
    await nextTurn();
    expect(a.batches).toEqual([['a1', 'a2', 'a3'], ['a4']]);
  });

  it('is installed on every MQTT connection the listener accepts', async () => {
    const install = vi.spyOn(WriteCoalescer.prototype, 'install');
    onCleanup(async () => install.mockRestore());
    const broker = await startMqttBroker();
    await connectMqtt(broker, { clientId: 'one' });
    await connectMqtt(broker, { clientId: 'two' });
    expect(install).toHaveBeenCalledTimes(2);
  });
});
