// Loading the configuration: defaults, then the file, then TRIBUTARY_* environment variables.
// Every problem becomes one line of a single INVALID_CONFIG error, so an operator fixes them all in
// one round trip instead of one per restart.

import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { TributaryError } from '../errors.ts';
import { configSchema, sectionShape, type Config } from './schema.ts';

const envPrefix = 'TRIBUTARY_';
/** The one TRIBUTARY_ variable that is not a config key: the path of the config file. */
const configFileEnv = 'TRIBUTARY_CONFIG';

export interface LoadConfigOptions {
  /** Config file; when absent, TRIBUTARY_CONFIG from `env`; when both are absent, defaults only. */
  file?: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

export function defaultConfig(): Config {
  return configSchema.parse({});
}

/**
 * Validates an already-parsed document (for example the result of YAML.parse) and fills in
 * defaults. `source` prefixes every message, e.g. "config file ./x.yaml".
 */
export function parseConfig(raw: unknown, source: string): Config {
  return validate(raw, source, new Map(), []);
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env[configFileEnv];
  const source = file === undefined ? 'config' : `config file ${file}`;
  const { overrides, problems } = readEnvOverrides(env);
  const read = file === undefined ? { value: {} } : readConfigFile(file, source);
  // A file that does not parse has nothing to validate; its problems and the environment's go out together.
  if ('problems' in read) throw invalid([...read.problems, ...problems].join('\n'));
  const raw = read.value;
  const merged = structuredClone(raw);
  const envByKey = new Map<string, string>();
  for (const { variable, path: keyPath, value } of overrides) {
    if (setPath(merged, keyPath, value)) envByKey.set(keyPath.join('.'), variable);
  }
  return validate(merged, source, envByKey, problems);
}

function invalid(message: string): TributaryError {
  return new TributaryError('INVALID_CONFIG', message);
}

type FileRead = { value: unknown } | { problems: string[] };

function readConfigFile(file: string, source: string): FileRead {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const { code, message } = err as NodeJS.ErrnoException;
    return { problems: [code === 'ENOENT' ? `${source}: not found` : `${source}: cannot read: ${message}`] };
  }
  const read = path.extname(file).toLowerCase() === '.json' ? parseJson(text, source) : parseYaml(text, source);
  // An empty file, or one whose keys are all commented out, parses to null/undefined: all defaults.
  return 'value' in read ? { value: read.value ?? {} } : read;
}

/** Every syntax error of the file, not only the first (the yaml library collects them all). */
function parseYaml(text: string, source: string): FileRead {
  const doc = YAML.parseDocument(text);
  if (doc.errors.length === 0) return { value: doc.toJS() as unknown };
  return {
    problems: doc.errors.map((err) => {
      const reason = err.message.split(' at line ')[0];
      const at = err.linePos === undefined ? '' : ` at line ${err.linePos[0].line}, column ${err.linePos[0].col}`;
      return `${source}: YAML syntax error${at}: ${reason}`;
    }),
  };
}

function parseJson(text: string, source: string): FileRead {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    // V8 reports an offset for most JSON errors (not all); turn it into what editors show.
    const offset = err.message.startsWith('Unexpected end') ? text.length : /at position (\d+)/.exec(err.message)?.[1];
    let at = '';
    if (offset !== undefined) {
      const before = text.slice(0, Number(offset)).split('\n');
      at = ` at line ${before.length}, column ${before[before.length - 1].length + 1}`;
    }
    return { problems: [`${source}: JSON syntax error${at}: ${err.message}`] };
  }
}

interface EnvOverride {
  variable: string;
  path: string[];
  value: unknown;
}

function readEnvOverrides(env: NodeJS.ProcessEnv): { overrides: EnvOverride[]; problems: string[] } {
  const keys = envKeys(configSchema, []);
  const overrides: EnvOverride[] = [];
  const problems: string[] = [];
  for (const [variable, text] of Object.entries(env)) {
    if (!variable.startsWith(envPrefix) || variable === configFileEnv || text === undefined) continue;
    const key = keys.get(variable);
    if (key === undefined) {
      const hint = didYouMean(variable, [...keys.keys()]);
      problems.push(`env ${variable}: not a config key${hint === undefined ? '' : ` (did you mean ${hint}?)`}`);
      continue;
    }
    const candidates = envCandidates(text);
    const value = candidates.find((candidate) => z.safeParse(key.schema, candidate).success);
    if (value === undefined) {
      // A list's issues sit inside it (routes.0.key): name that key and the value found there.
      for (const issue of z.safeParse(key.schema, candidates[0], { error: expectation, reportInput: true }).error?.issues ?? []) {
        const inside = issue.path.length === 0 ? '' : `${[...key.path, ...issue.path].join('.')}: `;
        problems.push(`env ${variable}: ${inside}got ${show(issue.path.length === 0 ? candidates[0] : issue.input)}, expected ${issue.message}`);
      }
      continue;
    }
    overrides.push({ variable, path: key.path, value });
  }
  return { overrides, problems };
}

/**
 * Env values are strings; the schema decides what they mean. Each reading is tried in order and
 * the first the key accepts wins, so a token "12345" stays a string while a port "12345" becomes
 * a number. The first reading is the one reported when none fits. Text starting with "[" is read
 * as JSON first: lists (routes, auth.users, auth.acls) are whole values, like any other key.
 */
function envCandidates(text: string): unknown[] {
  if (text === 'null') return [null, text];
  if (text.startsWith('[')) return [parseJsonOr(text), text];
  if (text === 'true' || text === 'false') return [text === 'true', text];
  if (/^-?\d+(\.\d+)?$/.test(text)) return [Number(text), text];
  return [text];
}

/** A list key (routes, auth.users) takes JSON; text that is not JSON is reported as the text. */
function parseJsonOr(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** TRIBUTARY_LISTENERS__EDGE__PORT → { path: [listeners, edge, port], schema } for every leaf key. */
function envKeys(schema: z.core.$ZodType, prefix: string[]): Map<string, { path: string[]; schema: z.core.$ZodType }> {
  const keys = new Map<string, { path: string[]; schema: z.core.$ZodType }>();
  for (const [name, child] of Object.entries(sectionShape(schema) ?? {})) {
    const keyPath = [...prefix, name];
    if (sectionShape(child) === undefined) {
      keys.set(envPrefix + keyPath.map(toUpperSnake).join('__'), { path: keyPath, schema: child });
    } else {
      for (const [variable, key] of envKeys(child, keyPath)) keys.set(variable, key);
    }
  }
  return keys;
}

function toUpperSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** Returns false when something in the way is not an object; validation then reports that instead. */
function setPath(target: unknown, keyPath: string[], value: unknown): boolean {
  if (!isPlainObject(target)) return false;
  const [head, ...rest] = keyPath;
  if (rest.length === 0) {
    target[head] = value;
    return true;
  }
  target[head] ??= {};
  return setPath(target[head], rest, value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validate(raw: unknown, source: string, envByKey: Map<string, string>, problems: string[]): Config {
  const result = configSchema.safeParse(raw, { reportInput: true, error: expectation });
  if (result.success && problems.length === 0) return result.data;
  throw invalid([...problems, ...(result.error?.issues.flatMap(describe) ?? [])].join('\n'));

  function describe(issue: z.core.$ZodIssue): string[] {
    const key = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      const known = Object.keys(shapeAt(issue.path) ?? {});
      return issue.keys.map((unknownKey) => {
        const hint = didYouMean(unknownKey, known);
        const qualify = (name: string) => [...issue.path, name].join('.');
        return `${source}: unknown key "${qualify(unknownKey)}"${mirrorLabel(issue.path)}${hint === undefined ? '' : ` (did you mean "${qualify(hint)}"?)`}`;
      });
    }
    const env = envVariableFor(issue.path, envByKey);
    const where = env !== undefined ? `env ${env.variable}${env.key === key ? '' : `: ${key}`}` : key === '' ? source : `${source}: ${key}`;
    // A discriminated union (a mirror's `sink`) reports the whole object as the input: show the key's value.
    const discriminator = issue.code === 'invalid_union' ? (issue as { discriminator?: unknown }).discriminator : undefined;
    const input = typeof discriminator === 'string' && typeof issue.input === 'object' && issue.input !== null ? (issue.input as Record<string, unknown>)[discriminator] : issue.input;
    return [`${where}${mirrorLabel(issue.path)}: got ${show(input)}, expected ${issue.message}`];
  }

  // "mirrors.2.qos" is hard to map back to a file with several mirrors: name the mirror too.
  function mirrorLabel(keyPath: PropertyKey[]): string {
    if (keyPath[0] !== 'mirrors' || typeof keyPath[1] !== 'number' || !isPlainObject(raw)) return '';
    const list = raw.mirrors;
    const name = Array.isArray(list) && isPlainObject(list[keyPath[1]]) ? (list[keyPath[1]] as Record<string, unknown>).name : undefined;
    return typeof name === 'string' ? ` (mirror ${name})` : '';
  }
}

/** The variable that set this key or a list it is inside (TRIBUTARY_ROUTES for routes.0.key). */
function envVariableFor(keyPath: PropertyKey[], envByKey: Map<string, string>): { variable: string; key: string } | undefined {
  for (let n = keyPath.length; n > 0; n--) {
    const key = keyPath.slice(0, n).join('.');
    const variable = envByKey.get(key);
    if (variable !== undefined) return { variable, key };
  }
  return undefined;
}

function shapeAt(keyPath: PropertyKey[]): z.core.$ZodShape | undefined {
  let shape = sectionShape(configSchema);
  for (const key of keyPath) {
    const child = typeof key === 'string' ? shape?.[key] : undefined;
    shape = child === undefined ? undefined : sectionShape(child);
  }
  return shape;
}

/** Messages for issues whose schema did not bring its own; phrased to follow "expected". */
function expectation(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return (
        { object: 'a mapping of keys', array: 'a list', boolean: 'true or false', string: 'a string' }[
          issue.expected as string
        ] ?? `a ${issue.expected}`
      );
    case 'invalid_value':
      return `one of ${issue.values.map(String).join(', ')}`;
    default:
      return undefined;
  }
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The closest name, ignoring case and _/- (so data_dir finds dataDir), if it is close enough to be a typo. */
function didYouMean(name: string, known: string[]): string | undefined {
  const normalize = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const target = normalize(name);
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(target, normalize(candidate));
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(target.length / 4)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
