// The one generic codec: reads, sizes and writes any struct by walking its compiled plan. Every
// API and version goes through these functions; there is no hand-written code per message.
//
// Reading throws MalformedInput (wire.ts) on bad bytes and nothing else; an array count is checked
// against the bytes left times the smallest element, so a forged count allocates nothing.
// Sizing and writing throw RangeError for values the wire cannot carry (a bug in the caller, not
// peer input). Sizing runs first over the whole value, so writing never meets a bad value.

import type { CompiledField, Plan, StructPlan } from './compile.ts';
import type { FieldSpec } from './schema.ts';
import { MalformedInput, Reader, Writer, ZERO_UUID, isUuid, uvarintSize } from './wire.ts';

type Obj = Record<string, unknown>;

const INT_RANGES = {
  int8: [-0x80, 0x7f],
  int16: [-0x8000, 0x7fff],
  int32: [-0x80000000, 0x7fffffff],
  uint16: [0, 0xffff],
  uint32: [0, 0xffffffff],
} as const;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT16_MAX = 0x7fff;
const INT32_MAX = 0x7fffffff;

// ---- defaults ----

/** The value of a field in a version it does not exist in, or of an absent tagged field. */
export function defaultValue(spec: FieldSpec): unknown {
  if (spec.default !== undefined) return spec.default;
  if (spec.type.startsWith('[]')) return [];
  if (spec.fields) return defaultStruct(spec.fields);
  switch (spec.type) {
    case 'int64':
      return 0n;
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
    case 'bytes':
      return Buffer.alloc(0);
    case 'records':
      return null;
    default:
      return 0;
  }
}

function defaultStruct(specs: readonly FieldSpec[]): Obj {
  const obj: Obj = {};
  for (const spec of specs) obj[spec.name] = defaultValue(spec);
  return obj;
}

/** A tagged field is written only when it differs from its default, as Kafka does. */
function isDefault(field: CompiledField, value: unknown): boolean {
  if (value === undefined) return true;
  const d = defaultValue(field.spec);
  if (d === null || typeof d !== 'object') return value === d;
  if (Array.isArray(d)) return Array.isArray(value) && value.length === 0;
  if (d instanceof Uint8Array) return value instanceof Uint8Array && value.length === 0;
  const plan = field.plan as StructPlan;
  if (value === null || typeof value !== 'object') return false;
  return plan.fields.every((f) => f.mode === 'absent' || isDefault(f, (value as Obj)[f.name]));
}

// ---- reading ----

export function readStruct(r: Reader, plan: StructPlan): Obj {
  const obj: Obj = {};
  for (const f of plan.fields) obj[f.name] = f.mode === 'wire' ? readValue(r, f.plan as Plan) : defaultValue(f.spec);
  if (plan.flexible) readTaggedFields(r, plan, obj);
  return obj;
}

/** Reads a tagged-field section; unknown tags are skipped, as Kafka does, so newer clients work. */
export function readTaggedFields(r: Reader, plan: StructPlan | null, obj: Obj): void {
  const count = r.uvarint();
  for (let i = 0; i < count; i++) {
    const tag = r.uvarint();
    const size = r.uvarint();
    r.need(size, 'tagged field');
    const field = plan?.taggedByTag.get(tag);
    if (!field) {
      r.pos += size;
      continue;
    }
    const end = r.end;
    r.end = r.pos + size;
    obj[field.name] = readValue(r, field.plan as Plan);
    if (r.pos !== r.end) throw new MalformedInput(`tagged field ${field.name}: ${r.end - r.pos} bytes left over`);
    r.end = end;
  }
}

function readLength(r: Reader, compact: boolean, wide: boolean): number {
  if (compact) return r.uvarint() - 1;
  return wide ? r.int32() : r.int16();
}

function readValue(r: Reader, plan: Plan): unknown {
  switch (plan.kind) {
    case 'int8':
      return r.int8();
    case 'int16':
      return r.int16();
    case 'int32':
      return r.int32();
    case 'int64':
      return r.int64();
    case 'uint16':
      return r.uint16();
    case 'uint32':
      return r.uint32();
    case 'float64':
      return r.float64();
    case 'bool':
      return r.bool();
    case 'uuid':
      return r.uuid();
    case 'string':
    case 'bytes':
    case 'records': {
      const length = readLength(r, plan.compact, plan.kind !== 'string');
      // Any negative length is null where the version allows it, as Kafka reads it.
      if (length < 0) {
        if (plan.nullable) return null;
        throw new MalformedInput(`${plan.kind}: null (length ${length}) where the version does not allow it`);
      }
      if (plan.kind !== 'string') return r.view(length);
      // Kafka refuses strings over 32767 bytes, compact ones too.
      if (length > INT16_MAX) throw new MalformedInput(`string: length ${length} above ${INT16_MAX}`);
      return r.utf8(length);
    }
    case 'array': {
      const count = readLength(r, plan.compact, true);
      if (count < 0) {
        if (plan.nullable) return null;
        throw new MalformedInput(`array: null (count ${count}) where the version does not allow it`);
      }
      // Each element takes at least one byte (or its fixed size): a count the bytes left cannot
      // hold is refused before anything is allocated for it.
      r.need(count * Math.max(1, plan.element.minBytes), `array of ${count}`);
      const out = new Array<unknown>(count);
      for (let i = 0; i < count; i++) out[i] = readValue(r, plan.element);
      return out;
    }
    case 'struct':
      return readStruct(r, plan);
  }
}

// ---- sizing (also validates) ----

function fail(name: string, why: string): never {
  throw new RangeError(`Kafka field ${name}: ${why}`);
}

function toInt64(name: string, v: unknown): bigint {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  if (typeof v === 'bigint' && v >= INT64_MIN && v <= INT64_MAX) return v;
  return fail(name, `${String(v)} is not an int64`);
}

/**
 * Records may also be given as a list of chunks written back to back (the stored batches of a
 * fetch answer), so the listener need not concatenate them first.
 */
function bytesLength(kind: 'bytes' | 'records', v: unknown, name: string): number {
  if (v instanceof Uint8Array) return v.length;
  if (kind === 'records' && Array.isArray(v)) {
    let length = 0;
    for (const chunk of v) {
      if (!(chunk instanceof Uint8Array)) fail(name, 'expected record batches (Uint8Arrays)');
      length += chunk.length;
    }
    return length;
  }
  return fail(name, kind === 'records' ? 'expected records (a Uint8Array or a list of them)' : 'expected bytes (a Uint8Array)');
}

function lengthSize(compact: boolean, length: number, wide: boolean): number {
  if (compact) return uvarintSize(length + 1);
  return wide ? 4 : 2;
}

/** The field's value, or its default when the caller left it out. */
function valueOf(obj: Obj, f: CompiledField): unknown {
  const v = obj[f.name];
  return v === undefined ? defaultValue(f.spec) : v;
}

export function sizeStruct(plan: StructPlan, obj: Obj, name: string): number {
  if (obj === null || typeof obj !== 'object') fail(name, 'expected an object');
  let size = 0;
  for (const f of plan.fields) if (f.mode === 'wire') size += sizeValue(f.plan as Plan, valueOf(obj, f), f.name);
  if (plan.flexible) size += sizeTaggedFields(plan, obj);
  return size;
}

function sizeTaggedFields(plan: StructPlan, obj: Obj): number {
  let count = 0;
  let size = 0;
  for (const f of plan.tagged) {
    const v = obj[f.name];
    if (isDefault(f, v)) continue;
    const s = sizeValue(f.plan as Plan, v, f.name);
    count++;
    size += uvarintSize(f.tag) + uvarintSize(s) + s;
  }
  return uvarintSize(count) + size;
}

function sizeValue(plan: Plan, v: unknown, name: string): number {
  switch (plan.kind) {
    case 'int8':
    case 'int16':
    case 'int32':
    case 'uint16':
    case 'uint32': {
      const [min, max] = INT_RANGES[plan.kind];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(name, `${String(v)} is not an ${plan.kind}`);
      return plan.minBytes;
    }
    case 'int64':
      toInt64(name, v);
      return 8;
    case 'float64':
      if (typeof v !== 'number') fail(name, 'expected a number');
      return 8;
    case 'bool':
      if (typeof v !== 'boolean') fail(name, 'expected a boolean');
      return 1;
    case 'uuid':
      if (!isUuid(v)) fail(name, 'expected a UUID (8-4-4-4-12 hex digits)');
      return 16;
    case 'string':
    case 'bytes':
    case 'records': {
      if (v === null) {
        if (!plan.nullable) fail(name, 'is not nullable in this version');
        return plan.compact ? 1 : plan.kind === 'string' ? 2 : 4;
      }
      let length: number;
      if (plan.kind === 'string') {
        if (typeof v !== 'string') fail(name, 'expected a string');
        length = Buffer.byteLength(v, 'utf8');
        if (length > INT16_MAX) fail(name, `string of ${length} bytes is longer than ${INT16_MAX}`);
      } else {
        length = bytesLength(plan.kind, v, name);
        if (length > INT32_MAX - 1) fail(name, `${length} bytes do not fit`);
      }
      return lengthSize(plan.compact, length, plan.kind !== 'string') + length;
    }
    case 'array': {
      if (v === null) {
        if (!plan.nullable) fail(name, 'is not nullable in this version');
        return plan.compact ? 1 : 4;
      }
      if (!Array.isArray(v)) fail(name, 'expected an array');
      let size = lengthSize(plan.compact, v.length, true);
      for (const e of v) size += sizeValue(plan.element, e, name);
      return size;
    }
    case 'struct':
      if (v === null) fail(name, 'is not nullable');
      return sizeStruct(plan, v as Obj, name);
  }
}

// ---- writing ----

export function writeStruct(w: Writer, plan: StructPlan, obj: Obj): void {
  for (const f of plan.fields) if (f.mode === 'wire') writeValue(w, f.plan as Plan, valueOf(obj, f), f.name);
  if (plan.flexible) writeTaggedFields(w, plan, obj);
}

function writeTaggedFields(w: Writer, plan: StructPlan, obj: Obj): void {
  const present = plan.tagged.filter((f) => !isDefault(f, obj[f.name]));
  w.uvarint(present.length);
  for (const f of present) {
    w.uvarint(f.tag);
    w.uvarint(sizeValue(f.plan as Plan, obj[f.name], f.name));
    writeValue(w, f.plan as Plan, obj[f.name], f.name);
  }
}

function writeLength(w: Writer, compact: boolean, length: number, wide: boolean): void {
  if (compact) w.uvarint(length + 1);
  else if (wide) w.int32(length);
  else w.int16(length);
}

function writeValue(w: Writer, plan: Plan, v: unknown, name: string): void {
  switch (plan.kind) {
    case 'int8':
      return w.int8(v as number);
    case 'int16':
      return w.int16(v as number);
    case 'int32':
      return w.int32(v as number);
    case 'int64':
      return w.int64(toInt64(name, v));
    case 'uint16':
      return w.uint16(v as number);
    case 'uint32':
      return w.uint32(v as number);
    case 'float64':
      return w.float64(v as number);
    case 'bool':
      return w.bool(v as boolean);
    case 'uuid':
      return w.uuid(v as string);
    case 'string':
    case 'bytes':
    case 'records': {
      const wide = plan.kind !== 'string';
      if (v === null) return writeLength(w, plan.compact, -1, wide);
      if (plan.kind === 'string') {
        const length = Buffer.byteLength(v as string, 'utf8');
        writeLength(w, plan.compact, length, false);
        return w.utf8(v as string, length);
      }
      if (Array.isArray(v)) {
        writeLength(w, plan.compact, bytesLength(plan.kind, v, name), true);
        for (const chunk of v as Uint8Array[]) w.bytes(chunk);
        return;
      }
      writeLength(w, plan.compact, (v as Uint8Array).length, true);
      return w.bytes(v as Uint8Array);
    }
    case 'array': {
      if (v === null) return writeLength(w, plan.compact, -1, true);
      const a = v as unknown[];
      writeLength(w, plan.compact, a.length, true);
      for (const e of a) writeValue(w, plan.element, e, name);
      return;
    }
    case 'struct':
      return writeStruct(w, plan, v as Obj);
  }
}
