// Turns a message spec into one plan per version: for each field, whether it is on the wire, a
// tagged field or absent, and how it is encoded (compact or not, nullable or not). The codec walks
// plans only, so no version arithmetic happens per byte. Plans are built once, at module load.

import { inRange, parseVersions, type FieldSpec, type MessageSpec, type VersionRange } from './schema.ts';

export type FixedKind = 'int8' | 'int16' | 'int32' | 'int64' | 'uint16' | 'uint32' | 'float64' | 'bool' | 'uuid';

export type Plan =
  | { readonly kind: FixedKind; readonly minBytes: number }
  | { readonly kind: 'string' | 'bytes' | 'records'; readonly compact: boolean; readonly nullable: boolean; readonly minBytes: number }
  | { readonly kind: 'array'; readonly compact: boolean; readonly nullable: boolean; readonly element: Plan; readonly minBytes: number }
  | StructPlan;

export interface StructPlan {
  readonly kind: 'struct';
  /** Every field of the spec, in spec order: decoded objects always have the same keys. */
  readonly fields: readonly CompiledField[];
  /** Tagged fields of this version, by ascending tag (the order they are written in). */
  readonly tagged: readonly CompiledField[];
  readonly taggedByTag: ReadonlyMap<number, CompiledField>;
  /** Flexible versions end every struct with a tagged-field section. */
  readonly flexible: boolean;
  /** Fewest bytes one encoded instance takes: bounds an array count against the bytes left. */
  readonly minBytes: number;
}

export interface CompiledField {
  readonly name: string;
  readonly spec: FieldSpec;
  /** 'wire': in the fixed part; 'tagged': in the tagged section; 'absent': not in this version. */
  readonly mode: 'wire' | 'tagged' | 'absent';
  readonly tag: number;
  /** How the value is encoded; null when absent. */
  readonly plan: Plan | null;
}

const FIXED_BYTES: Record<FixedKind, number> = {
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint16: 2,
  uint32: 4,
  float64: 8,
  bool: 1,
  uuid: 16,
};

function isFixed(type: string): type is FixedKind {
  return Object.hasOwn(FIXED_BYTES, type);
}

interface FieldRanges {
  versions: VersionRange;
  nullable: VersionRange;
  tagged: VersionRange;
  flexible: VersionRange | null;
}

// Parsed once per field spec object; specs are shared by every version's plan.
const rangeCache = new WeakMap<FieldSpec, FieldRanges>();

function rangesOf(spec: FieldSpec): FieldRanges {
  let r = rangeCache.get(spec);
  if (!r) {
    r = {
      versions: parseVersions(spec.versions),
      nullable: parseVersions(spec.nullableVersions ?? 'none'),
      tagged: parseVersions(spec.taggedVersions ?? 'none'),
      flexible: spec.flexibleVersions === undefined ? null : parseVersions(spec.flexibleVersions),
    };
    rangeCache.set(spec, r);
  }
  return r;
}

function compileType(type: string, spec: FieldSpec, version: number, flexible: boolean): Plan {
  const ranges = rangesOf(spec);
  const nullable = inRange(ranges.nullable, version);
  // A field-level override (the request header's client id) keeps its own encoding.
  const compact = ranges.flexible ? inRange(ranges.flexible, version) : flexible;
  if (type.startsWith('[]')) {
    const element = compileType(type.slice(2), { ...spec, nullableVersions: undefined, flexibleVersions: undefined }, version, flexible);
    return { kind: 'array', compact, nullable, element, minBytes: compact ? 1 : 4 };
  }
  if (spec.fields) {
    // Kafka marks a nullable struct with a leading byte; no API of the table has one, so the
    // codec does not implement it and refuses a table that would need it.
    if (ranges.nullable.min <= ranges.nullable.max) throw new Error(`nullable struct ${spec.name} is not supported by the Kafka codec`);
    return compileStruct(spec.fields, version, flexible);
  }
  if (isFixed(type)) return { kind: type, minBytes: FIXED_BYTES[type] };
  if (type === 'string') return { kind: 'string', compact, nullable, minBytes: compact ? 1 : 2 };
  if (type === 'bytes' || type === 'records') return { kind: type, compact, nullable, minBytes: compact ? 1 : 4 };
  throw new Error(`unknown type '${type}' of field ${spec.name} in the Kafka schema table`);
}

export function compileStruct(specs: readonly FieldSpec[], version: number, flexible: boolean): StructPlan {
  const fields: CompiledField[] = [];
  let minBytes = flexible ? 1 : 0;
  for (const spec of specs) {
    const ranges = rangesOf(spec);
    const tag = spec.tag ?? -1;
    if (!inRange(ranges.versions, version)) {
      fields.push({ name: spec.name, spec, mode: 'absent', tag, plan: null });
      continue;
    }
    const plan = compileType(spec.type, spec, version, flexible);
    if (flexible && inRange(ranges.tagged, version)) {
      fields.push({ name: spec.name, spec, mode: 'tagged', tag, plan });
    } else {
      fields.push({ name: spec.name, spec, mode: 'wire', tag, plan });
      minBytes += plan.minBytes;
    }
  }
  const tagged = fields.filter((f) => f.mode === 'tagged').sort((a, b) => a.tag - b.tag);
  return { kind: 'struct', fields, tagged, taggedByTag: new Map(tagged.map((f) => [f.tag, f])), flexible, minBytes };
}

/** One message spec with its plans for every valid version. */
export interface CompiledMessage {
  readonly spec: MessageSpec;
  readonly versions: VersionRange;
  readonly flexible: VersionRange;
  readonly plans: ReadonlyMap<number, StructPlan>;
}

export function compileMessage(spec: MessageSpec): CompiledMessage {
  const versions = parseVersions(spec.validVersions);
  const flexible = parseVersions(spec.flexibleVersions);
  const plans = new Map<number, StructPlan>();
  for (let v = versions.min; v <= versions.max; v++) plans.set(v, compileStruct(spec.fields, v, inRange(flexible, v)));
  return { spec, versions, flexible, plans };
}
