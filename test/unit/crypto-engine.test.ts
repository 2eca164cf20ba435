/**
 * The engine API a browser worker uses for encrypted images: open locked to inspect, see which
 * images wait for a passphrase, unlock (wrong passphrase → 'wrong-passphrase', still locked),
 * read; or give the passphrase (a string or a per-image function) to openImage directly.
 */
import { describe, expect, it } from 'vitest';
import { DiskImgError } from '../../src/core/errors.ts';
import { imageInfo } from '../../src/core/info.ts';
import { lockedLayers, openImage, unlockImage } from '../../src/core/open.ts';
import { convertImage } from '../../src/core/pipeline/convert-image.ts';
import { MemorySink } from '../../src/core/sink.ts';
import { MemoryStorage } from '../../src/core/storage/storage.ts';

const SIZE = 1024 * 1024 + 512 * 3;
const guest = new Uint8Array(SIZE);
for (let i = 0; i < SIZE; i += 4096) guest[i] = (i >> 12) & 255 || 1;

async function encrypted(passphrase: string): Promise<Uint8Array> {
  const source = await openImage(new MemoryStorage(guest, 'plain.raw'), { format: 'raw' });
  const sink = new MemorySink();
  await convertImage(source, sink, {
    outputFormat: 'qcow2',
    encrypt: { format: 'luks', passphrase, cipherMode: 'cbc', ivgenAlg: 'essiv', slotIterations: 1000, masterKeyIterations: 1000 },
  });
  return sink.bytes;
}

describe('encrypted images through the engine API', async () => {
  const bytes = await encrypted('pw');
  const storage = () => new MemoryStorage(bytes, 'disk.qcow2');

  it('opens locked for inspection, then unlocks in place', async () => {
    const image = await openImage(storage(), { allowLocked: true });
    expect(lockedLayers(image)).toEqual([{ depth: 0, name: 'disk.qcow2', format: 'luks' }]);
    const info = await imageInfo(image);
    expect((info['format-specific'] as { data: { encrypt: Record<string, unknown> } }).data.encrypt['cipher-mode']).toBe('cbc');
    const locked = await image.read(0, 4096).catch((e) => e);
    expect(locked).toBeInstanceOf(DiskImgError);
    expect(locked.kind).toBe('needs-passphrase');
    const wrong = await unlockImage(image, 'nope').catch((e) => e);
    expect(wrong.kind).toBe('wrong-passphrase');
    expect(wrong.context.file).toBe('disk.qcow2');
    expect(lockedLayers(image)).toHaveLength(1);
    await unlockImage(image, 'pw');
    expect(lockedLayers(image)).toEqual([]);
    expect(await image.read(0, SIZE)).toEqual(guest);
    // Unaligned reads decipher whole sectors and cut them back.
    expect(await image.read(4095, 1027)).toEqual(guest.subarray(4095, 4095 + 1027));
  });

  it('refuses to open without a passphrase unless allowLocked', async () => {
    const error = await openImage(storage()).catch((e) => e);
    expect(error.kind).toBe('needs-passphrase');
    expect((await openImage(storage(), { passphrase: 'nope' }).catch((e) => e)).kind).toBe('wrong-passphrase');
  });

  it('asks a passphrase function for each encrypted image', async () => {
    const asked: unknown[] = [];
    const image = await openImage(storage(), {
      passphrase: (ref) => {
        asked.push(ref);
        return new TextEncoder().encode('pw');
      },
    });
    expect(asked).toEqual([{ name: 'disk.qcow2', depth: 0, format: 'luks' }]);
    expect(await image.read(0, SIZE)).toEqual(guest);
  });
});
