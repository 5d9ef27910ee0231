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
// Log topics (the Kafka listener) have rights of their own, per log topic name or `*` pattern (as
// mirrors' `topics`): `read` (Fetch, ListOffsets), `write` (Produce) and `admin` (create, delete,
// grow). The same rules, the same deny by default; %c and %u substitute only a value made of topic
// name characters, so a username `*` matches no more than its own name would.

import { patternRegExp } from '../mirror/topic-selector.ts';
import { filterCovers, matchTopic } from '../protocol/mqtt/topic-filter.ts';
import type { Identity } from './password.ts';

export interface AclRule {
  user?: string;
  clientId?: string;
  publish: string[];
  subscribe: string[];
  /** Log topic names or `*` patterns; absent: none. */
  read?: string[];
  write?: string[];
  admin?: string[];
}

export type LogTopicRight = 'read' | 'write' | 'admin';

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
  logTopics: Record<LogTopicRight, CompiledSelector[]>;
}

interface CompiledSelector {
  text: string;
  /** The matcher when the selector has no %c/%u, built once. */
  re: RegExp | null;
}

const SUBSTITUTION = /%[cu]/;
const UNSAFE_VALUE = /[/+#]/;
const TOPIC_NAME_VALUE = /^[a-zA-Z0-9._-]+$/;

export class Acl {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly AclRule[]) {
    const compile = (text: string): CompiledFilter => ({ text, levels: SUBSTITUTION.test(text) ? null : text.split('/') });
    const selector = (text: string): CompiledSelector => ({ text, re: SUBSTITUTION.test(text) ? null : patternRegExp(text) });
    this.rules = rules.map((r) => ({
      user: r.user,
      clientId: r.clientId,
      publish: r.publish.map(compile),
      subscribe: r.subscribe.map(compile),
      logTopics: { read: (r.read ?? []).map(selector), write: (r.write ?? []).map(selector), admin: (r.admin ?? []).map(selector) },
    }));
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

  /** May `who` read, write or administer the log topic `topic`? */
  canLogTopic(who: Identity, right: LogTopicRight, topic: string): boolean {
    if (!this.enabled) return true;
    for (const rule of this.rules) {
      if (!applies(rule, who)) continue;
      for (const s of rule.logTopics[right]) {
        const re = s.re ?? substituteSelector(s.text, who);
        if (re !== null && re.test(topic)) return true;
      }
    }
    return false;
  }

  private some(who: Identity, action: 'publish' | 'subscribe', test: (levels: string[]) => boolean): boolean {
    for (const rule of this.rules) {
      if (!applies(rule, who)) continue;
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

function applies(rule: CompiledRule, who: Identity): boolean {
  return (rule.user === undefined || rule.user === who.username) && (rule.clientId === undefined || rule.clientId === who.clientId);
}

function substituteSelector(selector: string, who: Identity): RegExp | null {
  if (selector.includes('%u') && (who.username === null || !TOPIC_NAME_VALUE.test(who.username))) return null;
  if (selector.includes('%c') && !TOPIC_NAME_VALUE.test(who.clientId)) return null;
  return patternRegExp(selector.replaceAll('%c', who.clientId).replaceAll('%u', who.username ?? ''));
}
