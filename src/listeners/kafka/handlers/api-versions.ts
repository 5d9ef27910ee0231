// ApiVersions (key 18): the ranges this listener serves. Also the answer to an ApiVersions request
// of a version we do not serve: a v0 body with UNSUPPORTED_VERSION (35) and the same ranges, which
// every client can read (the response header of ApiVersions is v0 at every version).

import { KafkaError, type ResponseInput } from '../../../protocol/kafka/index.ts';
import { advertisedApis } from '../api-table.ts';

export function apiVersions(errorCode: number = KafkaError.NONE): ResponseInput<18> {
  return { errorCode, apiKeys: advertisedApis(), throttleTimeMs: 0 };
}
