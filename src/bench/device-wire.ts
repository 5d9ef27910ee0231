// What one 20-byte sensor reading costs on the wire, the figure device makers choose a protocol by:
// bytes each way and acknowledgements (round trips) per reading, for the edge protocol (1 and 50
// readings per frame, idempotent producer, acks=1) and for MQTT 3.1.1 QoS 1 (one PUBLISH per
// reading, on the topic layout of the routes and on a long topic).
//
// Each client talks to the broker child process through a counting proxy (counting-proxy.ts), as a
// device would: it waits for each frame's acknowledgement before sending the next (stop-and-wait).
// Two runs per case:
// - steady state: connect, one warm-up frame (the edge protocol registers its topic then), then
//   `steadyReadings` readings counted on their own;
// - a session: connect, `sessionReadings` readings, disconnect, all counted; what is left once the
//   frames carrying readings and their acknowledgements are taken away is the connection's.
// Counts are TCP payload; the TCP packets of the device's socket come from the kernel (`ss`).

import mqtt from 'mqtt';
import { Producer, type ProducerRecord } from '../client/index.ts';
import { BrokerProcess } from './broker-process.ts';
import { CountingProxy } from './counting-proxy.ts';
import type { BenchResult } from './results.ts';
import { tcpSegments, type SegmentCounts } from './tcp-segments.ts';
import { edgeTally, mqttTally, type WireTally } from './wire-tally.ts';

export interface DeviceWireSettings {
  /** Readings counted in the steady-state run; a multiple of every case's readings per frame. */
  steadyReadings: number;
  /** Readings of one session from connect to disconnect (a device that wakes, sends and sleeps). */
  sessionReadings: number;
}

/** A 20-byte reading, as a device might send it. */
export const READING = Buffer.from('{"t":21.53,"h":48.2}');
export const DEVICE_ID = 'sensor-0001';
/** The edge protocol's log topic (a PRODUCE frame names it by a registered alias). */
const EDGE_TOPIC = 'telemetry';
/** The layout the routes are written for (config/default.yaml's example route, firmware-samples/esp-mqtt). */
export const LAYOUT_TOPIC = `sensors/${DEVICE_ID}/telemetry`;
/** A plant-hierarchy topic, as many installations name their devices. */
export const LONG_TOPIC = `factory-berlin/hall-3/line-4/press-12/${DEVICE_ID}/telemetry/oil-temperature`;
/** IPv4 (20) and TCP (20) headers without options: lwIP, the ESP32's stack, sends no TCP timestamps by default. */
const IP_TCP_HEADER_BYTES = 40;
/** Readings are taken a second apart: a frame of 50 carries 50 seconds of them, each with its own time. */
const READING_INTERVAL_MS = 1000;

/** A client as a device runs it. */
interface Device {
  /** Sends `count` readings as one frame (edge) or one PUBLISH each (MQTT) and waits for their acknowledgement. */
  send(count: number, firstTimestampMs: number): Promise<void>;
  close(): Promise<void>;
}

interface Case {
  label: string;
  readingsPerFrame: number;
  tally: () => WireTally;
  /** Frame or packet type names: what carries readings up, and what acknowledges them. */
  upName: string;
  ackName: string;
  connect(port: number): Promise<Device>;
  /** Broker port this case's proxy forwards to. */
  port(broker: BrokerProcess): number;
}

function edgeCase(readingsPerFrame: number): Case {
  return {
    label: `edge protocol, acks=1, idempotent, ${readingsPerFrame} reading${readingsPerFrame === 1 ? '' : 's'} per frame`,
    readingsPerFrame,
    tally: edgeTally,
    upName: 'PRODUCE',
    ackName: 'ACK',
    port: (broker) => broker.edgePort,
    async connect(port) {
      // lingerMs 0 and batchRecordsMax = the frame's readings: each send() is one PRODUCE frame at once.
      const producer = await Producer.connect({ host: '127.0.0.1', port, clientId: DEVICE_ID, acks: 1, idempotent: true, lingerMs: 0, batchRecordsMax: readingsPerFrame, retries: 0 });
      return {
        async send(count, firstTimestampMs) {
          const records: ProducerRecord[] = Array.from({ length: count }, (_, i) => ({ topic: EDGE_TOPIC, value: READING, timestampMs: firstTimestampMs + i * READING_INTERVAL_MS }));
          await producer.sendBatch(records);
        },
        close: () => producer.close(),
      };
    },
  };
}

function mqttCase(topic: string, what: string): Case {
  return {
    label: `MQTT 3.1.1 QoS 1, one PUBLISH per reading, ${what} "${topic}" (${Buffer.byteLength(topic)} B)`,
    readingsPerFrame: 1,
    tally: mqttTally,
    upName: 'PUBLISH',
    ackName: 'PUBACK',
    port: (broker) => {
      if (broker.mqttPort === null) throw new Error('the broker child process did not report an MQTT port');
      return broker.mqttPort;
    },
    async connect(port) {
      // What esp-mqtt does by default: clean session, a keepalive (no PINGREQ within these runs).
      const client = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 4, clientId: DEVICE_ID, clean: true, keepalive: 120, reconnectPeriod: 0, connectTimeout: 10_000 });
      return {
        async send(count) {
          for (let i = 0; i < count; i++) await client.publishAsync(topic, READING, { qos: 1 });
        },
        // end() sends DISCONNECT, as a device going to sleep should.
        close: () => client.endAsync(),
      };
    },
  };
}

export const deviceWireCases: readonly Case[] = [edgeCase(1), edgeCase(50), mqttCase(LAYOUT_TOPIC, 'the routes\' layout'), mqttCase(LONG_TOPIC, 'a long topic')];

interface Counts {
  upBytes: number;
  downBytes: number;
  upFrames: number;
  /** Bytes of those frames. */
  upFrameBytes: number;
  acks: number;
  ackBytes: number;
  /** Of the device's socket while it is open; null without `ss` and once it closed. */
  segments: SegmentCounts | null;
}

/** A proxy and the tallies of one connection. */
class Wire {
  private constructor(
    readonly proxy: CountingProxy,
    private readonly up: WireTally,
    private readonly down: WireTally,
    private readonly c: Case,
  ) {}

  static async open(c: Case, broker: BrokerProcess): Promise<Wire> {
    const up = c.tally();
    const down = c.tally();
    const proxy = await CountingProxy.start(c.port(broker), { up: (chunk) => up.push(chunk), down: (chunk) => down.push(chunk) });
    return new Wire(proxy, up, down, c);
  }

  counts(): Counts {
    const failure = this.up.failure ?? this.down.failure;
    if (failure !== null) throw new Error(failure);
    // The proxy's client-facing socket: what it receives the device sent, and the reverse.
    const side = this.proxy.client;
    const proxySide = side === null ? null : tcpSegments(side.proxyPort, side.clientPort);
    return {
      upBytes: this.proxy.upBytes,
      downBytes: this.proxy.downBytes,
      upFrames: this.up.byType.get(this.c.upName)?.frames ?? 0,
      upFrameBytes: this.up.byType.get(this.c.upName)?.bytes ?? 0,
      acks: this.down.byType.get(this.c.ackName)?.frames ?? 0,
      ackBytes: this.down.byType.get(this.c.ackName)?.bytes ?? 0,
      segments: proxySide === null ? null : { out: proxySide.in, in: proxySide.out },
    };
  }
}

interface Measured {
  steady: Counts;
  session: Counts;
}

export async function runDeviceWire(s: DeviceWireSettings): Promise<BenchResult[]> {
  const broker = await BrokerProcess.start();
  try {
    const results: BenchResult[] = [];
    for (const c of deviceWireCases) {
      process.stderr.write(`  device-wire: ${c.label}\n`);
      results.push(row(c, await measure(c, broker, s), s));
    }
    return results;
  } finally {
    if (!(await broker.stop())) process.stderr.write('tributary: bench: device-wire: broker did not shut down cleanly on SIGTERM\n');
  }
}

async function measure(c: Case, broker: BrokerProcess, s: DeviceWireSettings): Promise<Measured> {
  if (s.steadyReadings % c.readingsPerFrame !== 0 || s.sessionReadings % c.readingsPerFrame !== 0) {
    throw new Error(`steadyReadings and sessionReadings must be multiples of ${c.readingsPerFrame}`);
  }
  let clockMs = Date.now();
  const sendAll = async (device: Device, readings: number) => {
    for (let sent = 0; sent < readings; sent += c.readingsPerFrame) {
      await device.send(c.readingsPerFrame, clockMs);
      clockMs += c.readingsPerFrame * READING_INTERVAL_MS;
    }
  };

  const steadyWire = await Wire.open(c, broker);
  let steady: Counts;
  try {
    const device = await c.connect(steadyWire.proxy.port);
    await sendAll(device, c.readingsPerFrame);
    const before = steadyWire.counts();
    await sendAll(device, s.steadyReadings);
    steady = difference(steadyWire.counts(), before);
    await device.close();
    await steadyWire.proxy.idle();
  } finally {
    await steadyWire.proxy.close();
  }
  expectFrames(c, steady, s.steadyReadings, 'steady state');

  const sessionWire = await Wire.open(c, broker);
  let session: Counts;
  try {
    const device = await c.connect(sessionWire.proxy.port);
    await sendAll(device, s.sessionReadings);
    await device.close();
    // Every byte of the connection is counted once both its sockets closed (the packets are not:
    // the kernel forgets a socket's counters with it).
    await sessionWire.proxy.idle();
    session = sessionWire.counts();
  } finally {
    await sessionWire.proxy.close();
  }
  expectFrames(c, session, s.sessionReadings, 'session');
  return { steady, session };
}

/** Guards the counts: every frame the client sent is seen, and acknowledged. */
function expectFrames(c: Case, counts: Counts, readings: number, phase: string): void {
  const frames = readings / c.readingsPerFrame;
  if (counts.upFrames !== frames) throw new Error(`${c.label}, ${phase}: ${counts.upFrames} ${c.upName} frames seen for ${frames} sent`);
  if (counts.acks === 0) throw new Error(`${c.label}, ${phase}: no ${c.ackName} seen`);
}

function difference(after: Counts, before: Counts): Counts {
  return {
    upBytes: after.upBytes - before.upBytes,
    downBytes: after.downBytes - before.downBytes,
    upFrames: after.upFrames - before.upFrames,
    upFrameBytes: after.upFrameBytes - before.upFrameBytes,
    acks: after.acks - before.acks,
    ackBytes: after.ackBytes - before.ackBytes,
    segments: after.segments === null || before.segments === null ? null : { out: after.segments.out - before.segments.out, in: after.segments.in - before.segments.in },
  };
}

function row(c: Case, m: Measured, s: DeviceWireSettings): BenchResult {
  const n = s.steadyReadings;
  const up = m.steady.upBytes / n;
  const down = m.steady.downBytes / n;
  const acks = m.steady.acks / n;
  const packetsUp = m.steady.segments === null ? null : m.steady.segments.out / n;
  const packetsDown = m.steady.segments === null ? null : m.steady.segments.in / n;
  // Everything of the session but the frames carrying readings and their acknowledgements:
  // connect, registration (edge), close.
  const connectionUp = m.session.upBytes - m.session.upFrameBytes;
  const connectionDown = m.session.downBytes - m.session.ackBytes;
  const sessionUp = m.session.upBytes / s.sessionReadings;
  const sessionDown = m.session.downBytes / s.sessionReadings;
  const b = (x: number) => x.toFixed(1);
  return {
    bench: 'device-wire',
    case: `${c.label}, ${READING.length} B readings`,
    metrics: {
      upBytesPerReading: up,
      downBytesPerReading: down,
      acksPerReading: acks,
      upFramesPerReading: m.steady.upFrames / n,
      upPacketsPerReading: packetsUp,
      downPacketsPerReading: packetsDown,
      connectionUpBytes: connectionUp,
      connectionDownBytes: connectionDown,
      sessionReadings: s.sessionReadings,
      sessionUpBytesPerReading: sessionUp,
      sessionDownBytesPerReading: sessionDown,
      steadyReadings: n,
    },
    summary: [
      `${b(up)} B up + ${b(down)} B down per reading`,
      `${acks.toFixed(2)} acks (round trips) per reading`,
      packetsUp === null || packetsDown === null
        ? 'TCP packets unknown (no ss)'
        : `${packetsUp.toFixed(2)} + ${packetsDown.toFixed(2)} TCP packets per reading (with ${IP_TCP_HEADER_BYTES} B IPv4+TCP headers each: ${b(up + packetsUp * IP_TCP_HEADER_BYTES)} + ${b(down + packetsDown * IP_TCP_HEADER_BYTES)} B)`,
      `connection setup and close ${Math.round(connectionUp)} B up + ${Math.round(connectionDown)} B down`,
      `connect, ${s.sessionReadings} readings, disconnect: ${b(sessionUp)} + ${b(sessionDown)} B per reading`,
    ].join('; '),
  };
}
