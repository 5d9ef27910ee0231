// What the administration commands (topics, groups) share: one Admin connection per command, and
// JSON output for scripts.

import { Admin } from '../client/index.ts';
import { connectOptions, type ConnectionFlags } from './connection.ts';

export async function withAdmin<T>(flags: ConnectionFlags, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = await Admin.connect(connectOptions(flags));
  try {
    return await fn(admin);
  } finally {
    await admin.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
