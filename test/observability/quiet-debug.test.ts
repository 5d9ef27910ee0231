// The bundle resolves `debug` to src/observability/quiet-debug.cjs (build.mjs): free while DEBUG is
// unset, the real debug module when it is set. This checks the second half through the built bundle:
// an operator chasing an MQTT problem still gets mqtt-packet's parser trace with DEBUG.
import { describe, expect, it } from 'vitest';
import { freePort, mqttListenerEnv, startChildBroker } from '../helpers/child-broker.ts';
import { connectMqtt } from '../helpers/mqtt.ts';
import { onCleanup, tempDir } from '../helpers/temp.ts';
import { until } from '../helpers/upstream.ts';

describe('debug loggers in the bundle', () => {
  it('print mqtt-packet:parser lines for a publish when DEBUG names them', async () => {
    const [edgePort, mqttPort] = [await freePort(), await freePort()];
    const broker = await startChildBroker(tempDir(), edgePort, { ...mqttListenerEnv(mqttPort), DEBUG: 'mqtt-packet:parser' });
    const client = await connectMqtt(mqttPort);
    onCleanup(() => client.endAsync());
    await client.publishAsync('sensors/t-1', 'hello', { qos: 1 });
    await until(() => broker.output().includes('mqtt-packet:parser'), 'a mqtt-packet:parser debug line');
    expect(broker.output()).toMatch(/mqtt-packet:parser parse: /);
  });
});
