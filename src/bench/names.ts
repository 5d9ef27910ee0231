/** The benchmarks `tributary bench --only` selects from, in the order they run. */
export const benchNames = ['codec', 'append', 'read', 'rss', 'latency', 'edge-1', 'edge-4', 'mqtt', 'mqtt-idle', 'mqtt-session', 'mqtt-shared', 'mirror-drain', 'kafka-mirror-drain', 'group-rebalance', 'group-commit', 'group-consume', 'kafka-produce', 'kafka-consume', 'device-wire'] as const;
export type BenchName = (typeof benchNames)[number];
