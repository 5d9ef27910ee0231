// Kafka's topic name rule, so a topic mirrored to a Kafka cluster keeps its name.

import { limits } from '../limits.ts';
import { TributaryError } from '../errors.ts';

const LEGAL = /^[a-zA-Z0-9._-]+$/;

export function validateTopicName(name: string): void {
  if (name.length === 0 || name.length > limits.topicNameLengthMax || !LEGAL.test(name) || name === '.' || name === '..')
    throw new TributaryError('INVALID_TOPIC', `invalid topic name ${JSON.stringify(name)}: use 1-${limits.topicNameLengthMax} characters of [a-zA-Z0-9._-], not "." or ".."`, { topic: name });
}
