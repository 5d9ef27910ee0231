// Every sink's config schema, joined into one union keyed on `sink`. A new sink adds its folder, its
// schema and checks here, and its factory in factories.ts; the engine does not change.

import { z } from 'zod';
import { fields } from '../../config/fields.ts';
import { engineProblems, type IssueAt } from '../mirror-config.ts';
import { kafkaMirrorProblems, kafkaMirrorSchema } from './kafka/config.ts';
import { mqttMirrorProblems, mqttMirrorSchema } from './mqtt/config.ts';

const problemsBySink: Record<string, (m: Record<string, unknown>, issue: IssueAt) => void> = {
  mqtt: mqttMirrorProblems,
  kafka: kafkaMirrorProblems,
};

export const mirrorSchema = z.discriminatedUnion('sink', [mqttMirrorSchema, kafkaMirrorSchema], { error: 'mqtt or kafka' });

export type MirrorConfig = z.output<typeof mirrorSchema>;
export type SinkKind = MirrorConfig['sink'];

/** The cross-field checks of one mirror that may not have parsed: the engine's, then its sink's. */
export function mirrorProblems(mirror: unknown, issue: IssueAt): void {
  const m = fields(mirror);
  engineProblems(m, issue);
  if (typeof m.sink === 'string') problemsBySink[m.sink]?.(m, issue);
}
