// Round trips of every API, side and version of the schema table, with bodies generated from the
// schema itself (schema-arbitrary.ts): decode(encode(x)) is x, and encoding it again gives the
// same bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRequestFrame, decodeResponse, encodeRequest, encodeResponse } from '../../../src/protocol/kafka/codec.ts';
import { allCases, structArb } from './schema-arbitrary.ts';

const RUNS = 25;

describe('Kafka codec round trips (every API × version × side)', () => {
  for (const c of allCases()) {
    it(`${c.name} ${c.side} v${c.version}`, () => {
      fc.assert(
        fc.property(structArb(c.plan), fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.option(fc.string(), { nil: null }), (body, correlationId, clientId) => {
          // The APIs are typed per key; the generated bodies are checked by the codec itself.
          const apiKey = c.apiKey as 18;
          if (c.side === 'request') {
            const frame = encodeRequest(apiKey, c.version, correlationId, clientId, body);
            expect(frame.readInt32BE(0)).toBe(frame.length - 4);
            const decoded = decodeRequestFrame(frame.subarray(4));
            if (!decoded.ok) throw new Error(decoded.message);
            expect(decoded.value.header).toMatchObject({ apiKey: c.apiKey, apiVersion: c.version, correlationId, clientId });
            expect(decoded.value.body).toEqual(body);
            expect(encodeRequest(apiKey, c.version, correlationId, clientId, decoded.value.body)).toEqual(frame);
          } else {
            const frame = encodeResponse(apiKey, c.version, correlationId, body);
            expect(frame.readInt32BE(0)).toBe(frame.length - 4);
            const decoded = decodeResponse(apiKey, c.version, frame.subarray(4));
            if (!decoded.ok) throw new Error(decoded.message);
            expect(decoded.value.correlationId).toBe(correlationId);
            expect(decoded.value.body).toEqual(body);
            expect(encodeResponse(apiKey, c.version, correlationId, decoded.value.body)).toEqual(frame);
          }
        }),
        { numRuns: RUNS },
      );
    });
  }
});
