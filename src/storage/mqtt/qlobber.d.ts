// qlobber ships no type declarations; these cover the parts the MQTT persistence uses.

declare module 'qlobber' {
  interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
  }

  /** Stores only whether a pattern was added: test() says if any added pattern matches a topic. */
  export class QlobberTrue {
    constructor(options?: QlobberOptions);
    add(pattern: string): void;
    test(topic: string): boolean;
  }
}

declare module 'qlobber/aedes/qlobber-sub.js' {
  interface QlobberSubValue {
    clientId: string;
    topic: string;
    qos?: number;
    rh?: number;
    rap?: boolean;
    nl?: boolean;
  }

  /** Subscriptions keyed by topic filter, one per client and filter; match() takes a topic. */
  export default class QlobberSub {
    constructor(options?: { separator?: string; wildcard_one?: string; wildcard_some?: string });
    readonly subscriptionsCount: number;
    add(filter: string, value: QlobberSubValue): void;
    remove(filter: string, value: Pick<QlobberSubValue, 'clientId' | 'topic'>): void;
    match(topic: string): QlobberSubValue[];
    clear(): void;
  }
}
