/**
 * LUKS partitions on the way to a file system: LUKS2 volumes cryptsetup encrypted in user space
 * (PBKDF2 and Argon2id key slots) and LUKS1 from qemu-img, each holding the ext4 mke2fs -d made
 * from the test tree, read back byte-identical with the passphrase, alone and as partition 2 of a
 * GPT disk in qcow2. A wrong or missing passphrase, and damaged LUKS2 header copies, each give one
 * clear line.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { volumesInsideLuks } from '../../src/core/filesystems/browse.ts';
import type { DiskImage } from '../../src/core/disk.ts';
import { nodeCrypto } from '../../src/node/crypto.ts';
import { open } from '../support/qemu.ts';
import { describeTree } from './fs-fixtures.ts';
import { LUKS_PASSPHRASE, luksFixtures, type LuksFixtures } from './fs-luks-fixtures.ts';
import { diskimgBytes, readBytes, readTree, sorted, treeFailure, writeBytes } from './fs-support.ts';

let fx: LuksFixtures;
let scratch: string;
beforeAll(() => {
  fx = luksFixtures();
  scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-luks-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const unlock = (passphrase = LUKS_PASSPHRASE) => ({ passphrase, crypto: nodeCrypto() });
const tree = () => sorted(describeTree(fx.tree));

async function withImage<T>(file: string, work: (image: DiskImage) => Promise<T>): Promise<T> {
  const image = await open(file);
  try {
    return await work(image);
  } finally {
    await image.close();
  }
}

describe('the file system inside a LUKS volume', () => {
  it('LUKS2 with a PBKDF2 key slot: every name, size, link and byte of the tree that went in', async () => {
    expect(await readTree(fx.luks2Pbkdf2, undefined, undefined, unlock())).toEqual(tree());
  });

  it('LUKS2 with an Argon2id key slot', async () => {
    expect(await readTree(fx.luks2Argon2id, undefined, undefined, unlock())).toEqual(tree());
  });

  it('LUKS2 with 4096-byte encryption sectors', async () => {
    expect(await readTree(fx.luks2Sector4k, undefined, undefined, unlock())).toEqual(tree());
  });

  it('LVM inside LUKS2: the only logical volume with a file system is opened, or the one --volume names', async () => {
    expect(await readTree(fx.luks2Lvm.image, undefined, undefined, unlock())).toEqual(tree());
    expect(await readTree(fx.luks2Lvm.image, undefined, `${fx.luks2Lvm.vg}/root`, unlock())).toEqual(tree());
    const error = await treeFailure(fx.luks2Lvm.image, undefined, `${fx.luks2Lvm.vg}/swap`, unlock());
    expect(error.message).toBe(
      `There is no logical volume ${fx.luks2Lvm.vg}/swap in volume group ${fx.luks2Lvm.vg}; volumes: ${fx.luks2Lvm.vg}/root`,
    );
  });

  it('two LVs inside LUKS2: listed with their file systems for the page, each read by --volume, neither guessed without it', async () => {
    const { gptQcow2, vg, fatTree } = fx.luks2TwoLvs;
    const volumes = await withImage(gptQcow2, (image) => volumesInsideLuks(image, 2, unlock()));
    expect(volumes?.map((v) => [v.name, v.layout, v.filesystem?.type, v.filesystem?.label ?? null])).toEqual([
      [`${vg}/root`, 'linear', 'ext4', null],
      [`${vg}/home`, 'linear', 'vfat', 'HOME'],
    ]);
    expect(await readTree(gptQcow2, 2, `${vg}/root`, unlock())).toEqual(tree());
    const fat = sorted(describeTree(fatTree)).filter((e) => e.path === '/hello.txt' || e.path.startsWith('/sub'));
    expect(await readTree(gptQcow2, 2, `${vg}/home`, unlock())).toEqual(fat);
    const error = await treeFailure(gptQcow2, 2, undefined, unlock());
    expect(error.message).toBe(
      `The encrypted partition holds an LVM2 physical volume: choose a logical volume (--volume VG/LV): ${vg}/root (ext4, ${20 * 2 ** 20} bytes); ${vg}/home (vfat "HOME", ${4 * 2 ** 20} bytes)`,
    );
    // A partition holding a file system directly has no volumes to choose from; a wrong passphrase is refused as such.
    expect(await withImage(fx.gptQcow2, (image) => volumesInsideLuks(image, 2, unlock()))).toBeNull();
    await expect(withImage(gptQcow2, (image) => volumesInsideLuks(image, 2, unlock('wrong')))).rejects.toThrow(
      /^Partition 2 \(LUKS\): The passphrase opens none of the LUKS key slots/,
    );
  });

  it('LUKS1 made by qemu-img', async () => {
    expect(await readTree(fx.luks1, undefined, undefined, unlock())).toEqual(tree());
  });

  it('LUKS2 as partition 2 of a GPT disk in qcow2', async () => {
    expect(await readTree(fx.gptQcow2, 2, undefined, unlock())).toEqual(tree());
  });

  it('a wrong passphrase is refused as such, naming the partition', async () => {
    const error = await treeFailure(fx.gptQcow2, 2, undefined, unlock('wrong'));
    expect(error.kind).toBe('wrong-passphrase');
    expect(error.message).toBe('Partition 2 (LUKS): The passphrase opens none of the LUKS key slots');
  });
});

describe('diskimg fs with --key-secret', () => {
  it('fs cat gives the bytes of a file inside, the passphrase given as qemu-img takes secrets', async () => {
    const result = await diskimgBytes(
      'fs',
      'cat',
      '--object',
      `secret,id=k0,data=${LUKS_PASSPHRASE}`,
      '--key-secret',
      'k0',
      fx.gptQcow2,
      '/hello.txt',
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toEqual(readBytes(join(fx.tree, 'hello.txt'), 0, 13));
  });

  it('without a passphrase, the error says the partition is encrypted and how to give one', async () => {
    const result = await diskimgBytes('fs', 'ls', fx.gptQcow2);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `diskimg: ${fx.gptQcow2}: Partition 2 is encrypted (LUKS2): its passphrase is needed: give it with --object secret,id=ID,data=...|file=... and --key-secret ID\n`,
    );
  });

  it('a --key-secret naming no --object is refused', async () => {
    const result = await diskimgBytes('fs', 'ls', '--key-secret', 'nope', fx.gptQcow2);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe("diskimg: --key-secret: No secret with id 'nope'\n");
  });
});

describe('damaged LUKS2 headers', () => {
  it('a primary copy that fails its checksum is passed over for the secondary; both failing, each is named', async () => {
    const image = join(scratch, 'bad-primary.img');
    copyFileSync(fx.luks2Pbkdf2, image);
    writeBytes(image, 4096 + 20, Buffer.from(' ')); // inside the primary JSON
    expect(await readTree(image, undefined, undefined, unlock())).toEqual(tree());
    writeBytes(image, 16384 + 4096 + 20, Buffer.from(' '));
    const error = await treeFailure(image, undefined, undefined, unlock());
    expect(error.kind).toBe('corrupt');
    expect(error.message).toBe(
      'The disk (LUKS): Neither LUKS2 header copy can be used: the copy at byte 0 fails its checksum; the copy at byte 16384 fails its checksum',
    );
  });

  it('key material past the end of the volume is refused, not read', async () => {
    const image = join(scratch, 'short.img');
    copyFileSync(fx.luks2Pbkdf2, image);
    const { truncateSync } = await import('node:fs');
    truncateSync(image, 32768 + 1000);
    const error = await treeFailure(image, undefined, undefined, unlock());
    expect(error.message).toMatch(
      /^The disk \(LUKS\): (LUKS2 segment 0 .* runs past the end of the partition|Keyslot 0's key material at byte 32768 lies past the end of the partition)/,
    );
  });
});
