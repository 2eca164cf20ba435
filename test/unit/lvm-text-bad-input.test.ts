/**
 * LVM2 metadata text that is not what LVM writes: each is refused with the line it goes wrong on,
 * never a hang or a deep recursion. (Real metadata, as LVM's tools write it, is read in
 * test/interop/fs-lvm.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { lvmList, lvmNumber, lvmSection, lvmString, parseLvmText } from '../../src/core/filesystems/lvm-text.ts';

const refusal = (text: string): string => {
  try {
    parseLvmText(text, 'The text');
  } catch (error) {
    expect(error).toBeInstanceOf(DiskImgError);
    return (error as DiskImgError).message;
  }
  throw new Error('parsed without error');
};

describe('LVM metadata text', () => {
  it('reads sections, strings with escapes, numbers, lists and comments', () => {
    const top = parseLvmText(
      'vg {\n# a comment\nseqno = 7\nname = "a \\"quoted\\" name"\nstripes = [\n"pv0", 12\n]\n__proto__ { x = 1 }\n}\n',
      'T',
    );
    const vg = lvmSection(top, 'vg')!;
    expect(lvmNumber(vg, 'seqno')).toBe(7);
    expect(lvmString(vg, 'name')).toBe('a "quoted" name');
    expect(lvmList(vg, 'stripes')).toEqual(['pv0', 12]);
    expect(lvmNumber(lvmSection(vg, '__proto__')!, 'x')).toBe(1);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('an unclosed section, a stray brace, a runaway string and a missing value are named with their line', () => {
    expect(refusal('vg {\nseqno = 1\n')).toBe('The text is not valid LVM metadata text: a section is never closed on line 3');
    expect(refusal('vg {\n}\n}\n')).toBe('The text is not valid LVM metadata text: a } closes no section on line 3');
    expect(refusal('vg {\nname = "never ends\n')).toBe(
      'The text is not valid LVM metadata text: a string runs to the end of the text on line 3',
    );
    expect(refusal('vg {\nseqno = }\n')).toBe('The text is not valid LVM metadata text: a value was expected, found "}" on line 2');
    expect(refusal('vg {\nseqno 1\n}')).toBe('The text is not valid LVM metadata text: "=" or "{" was expected after seqno on line 2');
    expect(refusal('x = [1 2]')).toBe('The text is not valid LVM metadata text: a comma or ] was expected in a list on line 1');
  });

  it('nesting deeper than LVM ever writes is refused, not recursed into', () => {
    expect(refusal(`${'a {\n'.repeat(100_000)}`)).toBe(
      'The text is not valid LVM metadata text: sections are nested more than 16 deep on line 17',
    );
  });
});
