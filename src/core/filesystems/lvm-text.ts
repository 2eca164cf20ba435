/**
 * LVM2's metadata text format (lib/format_text in LVM's source, read here from its grammar):
 * `name = value` pairs and `name { … }` sections, values being "strings", integers or
 * [lists, of, them]; `#` comments to the end of the line. Sections are Maps so a hostile name
 * ("__proto__") is only ever a key.
 */
import { DiskImgError } from '../errors.ts';

export type LvmValue = string | number | LvmValue[] | LvmSection;
export type LvmSection = Map<string, LvmValue>;

/** Nesting far beyond the four levels LVM writes (vg → logical_volumes → lv → segment). */
const MAX_NESTING = 16;
/** Items in one list: a raid LV's stripes list is the longest LVM writes. */
const MAX_LIST = 100_000;

const isSection = (v: LvmValue | undefined): v is LvmSection => v instanceof Map;

export function lvmSection(parent: LvmSection, key: string): LvmSection | undefined {
  const v = parent.get(key);
  return isSection(v) ? v : undefined;
}

export function lvmString(parent: LvmSection, key: string): string | undefined {
  const v = parent.get(key);
  return typeof v === 'string' ? v : undefined;
}

export function lvmNumber(parent: LvmSection, key: string): number | undefined {
  const v = parent.get(key);
  return typeof v === 'number' ? v : undefined;
}

export function lvmList(parent: LvmSection, key: string): LvmValue[] | undefined {
  const v = parent.get(key);
  return Array.isArray(v) ? v : undefined;
}

/** The sections directly inside `parent`, in the order written. */
export const lvmSubsections = (parent: LvmSection): Array<[string, LvmSection]> =>
  [...parent].filter((entry): entry is [string, LvmSection] => isSection(entry[1]));

/** Parses the whole text; `where` names it in errors ("the LVM metadata at byte 4608"). */
export function parseLvmText(text: string, where: string): LvmSection {
  let at = 0;
  let line = 1;
  const bad = (what: string): never => {
    throw new DiskImgError('corrupt', `${where} is not valid LVM metadata text: ${what} on line ${line}`, {
      field: 'lvm metadata',
      value: line,
    });
  };

  const skipBlank = () => {
    while (at < text.length) {
      const c = text[at];
      if (c === '\n') line++;
      if (c === '#') {
        while (at < text.length && text[at] !== '\n') at++;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\0') at++;
      else break;
    }
  };

  const name = (): string => {
    const start = at;
    while (at < text.length && /[A-Za-z0-9_.+-]/.test(text[at])) at++;
    if (at === start) bad(`a name was expected, found ${JSON.stringify(text[at] ?? 'the end')}`);
    return text.slice(start, at);
  };

  const string = (): string => {
    at++; // the opening quote
    let out = '';
    for (;;) {
      if (at >= text.length) bad('a string runs to the end of the text');
      const c = text[at++];
      if (c === '"') return out;
      if (c === '\n') line++;
      out += c === '\\' && at < text.length ? text[at++] : c;
    }
  };

  const scalar = (): string | number => {
    if (text[at] === '"') return string();
    const start = at;
    if (text[at] === '-') at++;
    while (at < text.length && /[0-9.]/.test(text[at])) at++;
    const number = Number(text.slice(start, at));
    if (at === start || !Number.isFinite(number)) bad(`a value was expected, found ${JSON.stringify(text[start] ?? 'the end')}`);
    return number;
  };

  const value = (): LvmValue => {
    if (text[at] !== '[') return scalar();
    at++;
    const list: LvmValue[] = [];
    for (;;) {
      skipBlank();
      if (text[at] === ']') {
        at++;
        return list;
      }
      if (list.length > 0) {
        if (text[at] !== ',') bad('a comma or ] was expected in a list');
        at++;
        skipBlank();
      }
      if (list.length >= MAX_LIST) bad(`a list has more than ${MAX_LIST} items`);
      list.push(scalar());
    }
  };

  const body = (into: LvmSection, depth: number, closing: boolean): LvmSection => {
    for (;;) {
      skipBlank();
      if (at >= text.length) {
        if (closing) bad('a section is never closed');
        return into;
      }
      if (text[at] === '}') {
        if (!closing) bad('a } closes no section');
        at++;
        return into;
      }
      const key = name();
      skipBlank();
      if (text[at] === '{') {
        if (depth >= MAX_NESTING) bad(`sections are nested more than ${MAX_NESTING} deep`);
        at++;
        into.set(key, body(new Map(), depth + 1, true));
      } else if (text[at] === '=') {
        at++;
        skipBlank();
        into.set(key, value());
      } else bad(`"=" or "{" was expected after ${key}`);
    }
  };

  return body(new Map(), 0, false);
}
