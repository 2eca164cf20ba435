/**
 * qemu-img's -o options for qcow2, checked as qemu-img checks them. The options themselves (keys,
 * types, defaults, help) are data in formats/outputs.ts; qcow2 keeps this parser for what its
 * pipeline needs beyond them (compat spellings, encryption's encrypt.* keys).
 */
import { QCOW2_OPTIONS } from '../core/formats/outputs.ts';
import type { Qcow2WriteOptions } from '../core/formats/qcow2/write/writer.ts';
import { isHashAlg } from '../core/crypto/hash.ts';
import { CIPHER_MODES, IVGEN_ALGS, type CipherAlg, type CipherMode, type IvGenAlg } from '../core/crypto/sector-cipher.ts';
import type { LuksCreateOptions } from '../core/crypto/luks.ts';
import type { HashAlg } from '../core/crypto/hash.ts';
import { parseSize } from './args.ts';

/** The keys qcow2 takes, from its entry in the output table (formats/outputs.ts). */
const KNOWN = new Set(QCOW2_OPTIONS.map((option) => option.key));

/** qemu-img's -o encrypt.* keys, in the order its "Formatting" line lists them. */
export const ENCRYPT_KEYS = [
  'encrypt.format',
  'encrypt.key-secret',
  'encrypt.cipher-alg',
  'encrypt.cipher-mode',
  'encrypt.ivgen-alg',
  'encrypt.ivgen-hash-alg',
  'encrypt.hash-alg',
  'encrypt.iter-time',
];
/** Every cipher QEMU names (QCryptoCipherAlgorithm); diskimg can only use AES. */
const CIPHER_ALGS = [
  'aes-128',
  'aes-192',
  'aes-256',
  'des',
  '3des',
  'cast5-128',
  'serpent-128',
  'serpent-192',
  'serpent-256',
  'twofish-128',
  'twofish-192',
  'twofish-256',
  'sm4',
];

export interface EncryptOptions extends LuksCreateOptions {
  format: 'luks';
  /** The --object secret id holding the passphrase. */
  keySecret?: string;
  /** The options as given, for the Formatting line. */
  given: Map<string, string>;
}

/** -o encrypt.* → what the LUKS writer needs, with qemu-img's messages for bad values. */
export function encryptOptions(options: Map<string, string>): EncryptOptions | { error: string } | undefined {
  const given = new Map([...options].filter(([key]) => key.startsWith('encrypt.')));
  if (given.size === 0) return undefined;
  const format = given.get('encrypt.format');
  if (format === undefined) return { error: "Parameter 'encrypt.format' is missing" };
  if (format === 'aes')
    return { error: 'Writing legacy AES encryption (encrypt.format=aes) is not supported: QEMU deprecated it; use encrypt.format=luks' };
  if (format !== 'luks') return { error: `Parameter 'format' does not accept value '${format}'` };
  const out: EncryptOptions = { format: 'luks', given };
  for (const [key, value] of given) {
    const name = key.slice('encrypt.'.length);
    const bad = { error: `Parameter '${name}' does not accept value '${value}'` };
    switch (key) {
      case 'encrypt.format':
        break;
      case 'encrypt.key-secret':
        out.keySecret = value;
        break;
      case 'encrypt.cipher-alg':
        if (!CIPHER_ALGS.includes(value)) return bad;
        out.cipherAlg = value as CipherAlg;
        break;
      case 'encrypt.cipher-mode':
        if (!(CIPHER_MODES as readonly string[]).includes(value)) return bad;
        out.cipherMode = value as CipherMode;
        break;
      case 'encrypt.ivgen-alg':
        if (!(IVGEN_ALGS as readonly string[]).includes(value)) return bad;
        out.ivgenAlg = value as IvGenAlg;
        break;
      case 'encrypt.ivgen-hash-alg':
      case 'encrypt.hash-alg':
        if (!isHashAlg(value)) return bad;
        if (key === 'encrypt.hash-alg') out.hashAlg = value as HashAlg;
        else out.ivgenHashAlg = value as HashAlg;
        break;
      case 'encrypt.iter-time':
        if (!/^\d+$/.test(value)) return { error: "Parameter 'encrypt.iter-time' expects a number" };
        out.iterTime = Number(value);
        break;
      default:
        return { error: `Invalid parameter '${key}'` };
    }
  }
  return out;
}

export function qcow2Options(options: Map<string, string>): Partial<Qcow2WriteOptions> & { error?: string } {
  const out: Partial<Qcow2WriteOptions> = {};
  for (const [key, value] of options) {
    if (key.startsWith('encrypt.')) continue;
    if (!KNOWN.has(key)) return { error: `Invalid parameter '${key}'` };
    switch (key) {
      case 'cluster_size': {
        const size = parseSize(value);
        if (size === undefined) return { error: `Parameter 'cluster_size' expects a non-negative number below 2^64` };
        out.clusterSize = size;
        break;
      }
      case 'compat':
        if (value === 'v2' || value === '0.10') out.compat = '0.10';
        else if (value === 'v3' || value === '1.1') out.compat = '1.1';
        else return { error: `Parameter 'version' does not accept value '${value}'` };
        break;
      case 'compression_type':
        if (value !== 'zlib' && value !== 'zstd') return { error: `Parameter 'compression-type' does not accept value '${value}'` };
        out.compressionType = value;
        break;
      case 'refcount_bits':
        out.refcountBits = Number(value);
        if (!Number.isInteger(out.refcountBits)) return { error: `Parameter 'refcount_bits' expects a non-negative number below 2^64` };
        break;
      case 'lazy_refcounts':
        if (value !== 'on' && value !== 'off') return { error: `Parameter 'lazy_refcounts' expects 'on' or 'off'` };
        out.lazyRefcounts = value === 'on';
        break;
      case 'extended_l2':
        if (value === 'on') return { error: 'extended_l2=on is not supported yet when writing' };
        break;
      case 'preallocation':
        if (value !== 'off' && value !== 'metadata') return { error: `preallocation=${value} is not supported (metadata and off are)` };
        out.preallocation = value;
        break;
      case 'backing_file':
        out.backingFile = value;
        break;
      case 'backing_fmt':
        out.backingFormat = value;
        break;
    }
  }
  return out;
}
