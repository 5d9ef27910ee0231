// `tributary start` with the Kafka listener: its port in use names listeners.kafka.port.
import net from 'node:net';
import { expect, it } from 'vitest';
import { freePort } from '../../helpers/child-broker.ts';
import { lines, run } from '../../helpers/cli.ts';
import { onCleanup, tempDir } from '../../helpers/temp.ts';

it('Kafka port in use: `tributary start` prints one line naming listeners.kafka.port and exits 1', async () => {
  const port = await freePort();
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
  const r = await run(['start'], {
    env: {
      TRIBUTARY_DATA_DIR: tempDir(),
      TRIBUTARY_LISTENERS__EDGE__ENABLED: 'false',
      TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false',
      TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false',
      TRIBUTARY_LISTENERS__KAFKA__ENABLED: 'true',
      TRIBUTARY_LISTENERS__KAFKA__HOST: '127.0.0.1',
      TRIBUTARY_LISTENERS__KAFKA__PORT: String(port),
    },
  });
  expect(lines(r.stderr)).toEqual([`tributary: EADDRINUSE: cannot listen on 127.0.0.1:${port}: address already in use (change listeners.kafka.port or stop the process using it)`]);
  expect(r.code).toBe(1);
});

it('the default config serves Kafka on 0.0.0.0:9092: with 9092 busy, `tributary start` names listeners.kafka.port and exits 1', async () => {
  // The one test that holds 9092 (no other test or helper binds it). Held by something else already,
  // it is busy all the same.
  const server = net.createServer();
  const held = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(9092, '127.0.0.1', () => resolve(true));
  });
  if (held) onCleanup(() => new Promise((resolve) => server.close(() => resolve())));
  const r = await run(['start'], {
    // Only the other listeners are turned off: nothing about Kafka is set.
    env: { TRIBUTARY_DATA_DIR: tempDir(), TRIBUTARY_LISTENERS__EDGE__ENABLED: 'false', TRIBUTARY_LISTENERS__HTTP__ENABLED: 'false', TRIBUTARY_LISTENERS__MQTT__ENABLED: 'false' },
  });
  expect(lines(r.stderr)).toEqual(['tributary: EADDRINUSE: cannot listen on 0.0.0.0:9092: address already in use (change listeners.kafka.port or stop the process using it)']);
  expect(r.code).toBe(1);
});
