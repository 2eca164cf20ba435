/**
 * JSON exactly as qemu-img prints it, so scripts that diff or grep its output keep working.
 * QEMU prints a QDict in hash-table order: 512 buckets by tdb_hash(key), each bucket newest
 * first (qobject/qdict.c); pretty-printing indents by 4 and escapes non-ASCII as \uXXXX.
 */

const BUCKETS = 512;

function tdbHash(key: string): number {
  const bytes = new TextEncoder().encode(key);
  let value = Math.imul(0x238f13af, bytes.length) >>> 0;
  for (let i = 0; i < bytes.length; i++) value = (value + ((bytes[i] << ((i * 5) % 24)) >>> 0)) >>> 0;
  return (Math.imul(1103515243, value) + 12345) >>> 0;
}

/** The order QEMU would list these keys in (insertion order breaks ties, newest first). */
export function qdictKeyOrder(keys: readonly string[]): string[] {
  return keys
    .map((key, index) => ({ key, index, bucket: tdbHash(key) % BUCKETS }))
    .sort((a, b) => a.bucket - b.bucket || b.index - a.index)
    .map((entry) => entry.key);
}

function quote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code >= 0x7f) {
      const units = code > 0xffff ? [0xd800 + ((code - 0x10000) >> 10), 0xdc00 + ((code - 0x10000) & 0x3ff)] : [code];
      for (const unit of units) out += `\\u${unit.toString(16).toUpperCase().padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

/**
 * qemu-img's object with fields of our own after all of qemu-img's: qemu-img's keep their QDict
 * order, ours (and everything nested in them) keep the order they were written in.
 */
export class WithExtraFields {
  constructor(
    readonly qemu: Record<string, unknown>,
    readonly extra: Record<string, unknown>,
  ) {}
}

export type KeyOrder = (keys: readonly string[]) => string[];
const insertionOrder: KeyOrder = (keys) => [...keys];

/** Pretty JSON in qemu-img's layout (objects in QDict order). */
export function formatQemuJson(value: unknown, level = 0, order: KeyOrder = qdictKeyOrder): string {
  const pad = '    '.repeat(level + 1);
  const close = '    '.repeat(level);
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    const items = value.map((item) => pad + formatQemuJson(item, level + 1, order));
    return `[\n${items.join(',\n')}${items.length ? '\n' : ''}${close}]`;
  }
  const defined = (object: Record<string, unknown>) => Object.keys(object).filter((key) => object[key] !== undefined);
  const field = (object: Record<string, unknown>, key: string, keyOrder: KeyOrder) =>
    `${pad}${quote(key)}: ${formatQemuJson(object[key], level + 1, keyOrder)}`;
  let items: string[];
  if (value instanceof WithExtraFields) {
    items = [
      ...order(defined(value.qemu)).map((key) => field(value.qemu, key, order)),
      ...defined(value.extra).map((key) => field(value.extra, key, insertionOrder)),
    ];
  } else {
    const object = value as Record<string, unknown>;
    items = order(defined(object)).map((key) => field(object, key, order));
  }
  return `{\n${items.join(',\n')}${items.length ? '\n' : ''}${close}}`;
}

/** A compact one-line object as qemu-img map prints each entry: `{ "a": 1, "b": 2}`. */
export function formatQemuJsonInline(object: Record<string, unknown>): string {
  return `{ ${Object.keys(object)
    .filter((key) => object[key] !== undefined)
    .map((key) => `${quote(key)}: ${formatQemuJson(object[key])}`)
    .join(', ')}}`;
}
