import { describe, expect, it } from 'vitest';
import { fieldVi } from '../../src/lib/i18n/fields-vi.ts';

describe('fieldVi', () => {
  it('translates a field named in prose, keeping the engine’s name beside it', () => {
    expect(fieldVi('root directory extent')).toBe('extent của thư mục gốc (root directory extent)');
    expect(fieldVi('passphrase')).toBe('cụm mật khẩu (passphrase)');
  });
  it('keeps a numbered field’s number', () => {
    expect(fieldVi('region table entry 3')).toBe('mục của bảng vùng 3 (region table entry 3)');
  });
  it('leaves a spec’s identifier as written', () => {
    expect(fieldVi('cluster_bits')).toBe('cluster_bits');
    expect(fieldVi('encrypt.key-secret')).toBe('encrypt.key-secret');
  });
});
