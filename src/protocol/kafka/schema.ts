// The shape of the schema table (messages/*.ts) and the types of the values it describes. A message
// spec is Kafka's own JSON message definition as data: each field has the versions it exists in,
// the versions it may be null in, the versions it is a tagged field in, and a default. Nothing
// here reads or writes bytes; compile.ts turns a spec into one plan per version.

/** Types with a fixed or length-prefixed wire form. */
export type PrimitiveType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint16'
  | 'uint32'
  | 'float64'
  | 'bool'
  | 'uuid'
  | 'string'
  | 'bytes'
  | 'records';

/** One field of a message or struct, in Kafka's notation (versions '0+', '3-5', '2' or 'none'). */
export interface FieldSpec {
  readonly name: string;
  /** A primitive, `[]primitive`, `[]StructName` (with fields) or `StructName` (with fields). */
  readonly type: string;
  readonly versions: string;
  readonly nullableVersions?: string;
  readonly taggedVersions?: string;
  readonly tag?: number;
  /** Overrides the message's flexible versions for this field's own encoding (compact or not). */
  readonly flexibleVersions?: string;
  /** Value of the field in versions it does not exist in, and of an absent tagged field. */
  readonly default?: number | bigint | boolean | string | null;
  readonly fields?: readonly FieldSpec[];
}

/** A request or response body of one API. */
export interface MessageSpec {
  readonly apiKey: number;
  readonly name: string;
  readonly validVersions: string;
  /** Versions using compact strings/arrays and tagged fields (and header v2 / v1). */
  readonly flexibleVersions: string;
  readonly fields: readonly FieldSpec[];
}

/** Inclusive version range; an empty range has min > max. */
export interface VersionRange {
  readonly min: number;
  readonly max: number;
}

const NO_VERSIONS: VersionRange = { min: 1, max: 0 };

/** Parses Kafka's version notation: 'none', 'N', 'N+' or 'A-B'. A bad string is a bug in the table. */
export function parseVersions(text: string): VersionRange {
  if (text === 'none') return NO_VERSIONS;
  const m = /^(\d+)(?:(\+)|-(\d+))?$/.exec(text);
  if (!m) throw new Error(`bad version range '${text}' in the Kafka schema table`);
  const min = Number(m[1]);
  if (m[2]) return { min, max: Number.POSITIVE_INFINITY };
  return { min, max: m[3] === undefined ? min : Number(m[3]) };
}

export function inRange(range: VersionRange, version: number): boolean {
  return version >= range.min && version <= range.max;
}

// ---- value types, inferred from a spec declared `as const` ----

type NumberType = 'int8' | 'int16' | 'int32' | 'uint16' | 'uint32' | 'float64';

/** Decoded form of a primitive. int64 is a bigint (offsets and ids use all 64 bits). */
type DecodedScalar<T> = T extends NumberType
  ? number
  : T extends 'int64'
    ? bigint
    : T extends 'bool'
      ? boolean
      : T extends 'string' | 'uuid'
        ? string
        : T extends 'bytes' | 'records'
          ? Buffer
          : never;

/** Accepted form of a primitive when encoding: int64 also as a safe-integer number, records also as chunks. */
type EncodedScalar<T> = T extends 'int64'
  ? bigint | number
  : T extends 'bytes'
    ? Uint8Array
    : T extends 'records'
      ? Uint8Array | readonly Uint8Array[]
      : DecodedScalar<T>;

type Nullability<F> = F extends { readonly nullableVersions: string } ? null : never;

/** The decoded value of one field. */
export type FieldValue<F extends FieldSpec> = F extends { readonly fields: infer S extends readonly FieldSpec[] }
  ? F['type'] extends `[]${string}`
    ? StructValue<S>[] | Nullability<F>
    : StructValue<S> | Nullability<F>
  : F['type'] extends `[]${infer E}`
    ? DecodedScalar<E>[] | Nullability<F>
    : DecodedScalar<F['type']> | Nullability<F>;

/** A decoded struct: every field of the spec, those absent in the version set to their default. */
export type StructValue<S extends readonly FieldSpec[]> = { [F in S[number] as F['name']]: FieldValue<F> };

/** The value of one field as given to an encoder. */
export type FieldInput<F extends FieldSpec> = F extends { readonly fields: infer S extends readonly FieldSpec[] }
  ? F['type'] extends `[]${string}`
    ? readonly StructInput<S>[] | Nullability<F>
    : StructInput<S> | Nullability<F>
  : F['type'] extends `[]${infer E}`
    ? readonly EncodedScalar<E>[] | Nullability<F>
    : EncodedScalar<F['type']> | Nullability<F>;

/** A struct as given to an encoder: a field left out is encoded as its default. */
export type StructInput<S extends readonly FieldSpec[]> = { [F in S[number] as F['name']]?: FieldInput<F> };
