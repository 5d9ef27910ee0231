// aedes-persistence ships no declarations for its conformance suite.

declare module 'aedes-persistence/abstract.js' {
  import type { test } from 'node:test';

  export default function abstractPersistence(opts: {
    test: typeof test;
    persistence: () => unknown;
    /** The instance implements the promise interface; the suite calls setup(broker) itself. */
    testAsync?: boolean;
  }): void;
}
