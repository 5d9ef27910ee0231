// Which log topics a mirror ships, and with what priority. Topic names never contain `*`, so a
// selector holding one is a pattern (`*` = any run of characters) and anything else is a name.

export class TopicSelector {
  private readonly names = new Set<string>();
  private readonly patterns: RegExp[] = [];
  private readonly priorityRules: { match: (topic: string) => boolean; priority: number; exact: boolean }[] = [];

  constructor(selectors: readonly string[], priorities: Readonly<Record<string, number>> = {}) {
    for (const s of selectors) {
      if (s.includes('*')) this.patterns.push(patternRegExp(s));
      else this.names.add(s);
    }
    for (const [selector, priority] of Object.entries(priorities)) {
      const exact = !selector.includes('*');
      const re = exact ? null : patternRegExp(selector);
      this.priorityRules.push({ match: exact ? (t) => t === selector : (t) => re!.test(t), priority, exact });
    }
  }

  matches(topic: string): boolean {
    return this.names.has(topic) || this.patterns.some((p) => p.test(topic));
  }

  /** An exact name's priority beats a pattern's; among patterns the highest wins; default 0. */
  priorityOf(topic: string): number {
    let best: number | undefined;
    for (const rule of this.priorityRules) {
      if (!rule.match(topic)) continue;
      if (rule.exact) return rule.priority;
      best = Math.max(best ?? -Infinity, rule.priority);
    }
    return best ?? 0;
  }
}

export function patternRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.\\^$+?()[\]{}|-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
