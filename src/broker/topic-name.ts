// Kafka's topic name rule, so a topic mirrored to a Kafka cluster keeps its name.

import { limits } from '../limits.ts';
import { TributaryError } from '../errors.ts';

const LEGAL = /^[a-zA-Z0-9._-]+$/;

/** Why `name` is not a legal topic name, or null when it is. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0 || name.length > limits.topicNameLengthMax || !LEGAL.test(name) || name === '.' || name === '..')
    return `invalid topic name ${JSON.stringify(name)}: use 1-${limits.topicNameLengthMax} characters of [a-zA-Z0-9._-], not "." or ".."`;
  return null;
}

export function validateTopicName(name: string): void {
  const problem = topicNameProblem(name);
  if (problem !== null) throw new TributaryError('INVALID_TOPIC', problem, { topic: name });
}
