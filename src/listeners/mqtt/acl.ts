// Publish and subscribe ACLs, evaluated the way Mosquitto evaluates an acl_file:
// - no rules at all: every client may publish and subscribe to everything;
// - otherwise deny by default: a client may publish to a topic when a rule that applies to it has a
//   publish filter matching the topic, and subscribe to a filter when such a rule has a subscribe
//   filter covering every topic the requested filter could match ("a/#" covers "a/+/b", "a/+" does
//   not cover "a/#");
// - a rule applies to the client when its `user` (if set) is the client's username and its
//   `clientId` (if set) is the client's id; a rule with neither applies to every client;
// - %c in a filter stands for the client id and %u for the username. As in Mosquitto 2, a filter
//   using %u never matches an anonymous client, and neither substitution matches a value holding
//   "/", "+" or "#", so a client cannot widen its own rights by choosing its id.

import { filterCovers, matchTopic } from '../../protocol/mqtt/topic-filter.ts';
import type { Identity } from './auth.ts';

export interface AclRule {
  user?: string;
  clientId?: string;
  publish: string[];
  subscribe: string[];
}

interface CompiledFilter {
  text: string;
  /** Levels when the filter has no %c/%u, computed once. */
  levels: string[] | null;
}

interface CompiledRule {
  user: string | undefined;
  clientId: string | undefined;
  publish: CompiledFilter[];
  subscribe: CompiledFilter[];
}

const SUBSTITUTION = /%[cu]/;
const UNSAFE_VALUE = /[/+#]/;

export class Acl {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly AclRule[]) {
    const compile = (text: string): CompiledFilter => ({ text, levels: SUBSTITUTION.test(text) ? null : text.split('/') });
    this.rules = rules.map((r) => ({ user: r.user, clientId: r.clientId, publish: r.publish.map(compile), subscribe: r.subscribe.map(compile) }));
  }

  get enabled(): boolean {
    return this.rules.length > 0;
  }

  canPublish(who: Identity, topic: string): boolean {
    if (!this.enabled) return true;
    const topicLevels = topic.split('/');
    return this.some(who, 'publish', (levels) => matchTopic(levels, topicLevels) !== null);
  }

  canSubscribe(who: Identity, filter: string): boolean {
    if (!this.enabled) return true;
    const requested = filter.split('/');
    return this.some(who, 'subscribe', (levels) => filterCovers(levels, requested));
  }

  private some(who: Identity, action: 'publish' | 'subscribe', test: (levels: string[]) => boolean): boolean {
    for (const rule of this.rules) {
      if (rule.user !== undefined && rule.user !== who.username) continue;
      if (rule.clientId !== undefined && rule.clientId !== who.clientId) continue;
      for (const f of rule[action]) {
        const levels = f.levels ?? substitute(f.text, who);
        if (levels !== null && test(levels)) return true;
      }
    }
    return false;
  }
}

function substitute(filter: string, who: Identity): string[] | null {
  if (filter.includes('%u') && (who.username === null || UNSAFE_VALUE.test(who.username))) return null;
  if (filter.includes('%c') && UNSAFE_VALUE.test(who.clientId)) return null;
  return filter.replaceAll('%c', who.clientId).replaceAll('%u', who.username ?? '').split('/');
}
