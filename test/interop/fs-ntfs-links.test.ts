/**
 * NTFS reparse points (symbolic links, a junction) read as links, and a file whose nine hard links
 * and thirty alternate data streams overflow its MFT record into an attribute list: compared with
 * what ntfs-3g itself reads from the same image (readlink, listxattr on a read-only mount), with
 * ntfscat, and with the bytes that went in.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINK_NAMES, ntfsLinks, REPARSE_TARGETS } from './fs-ntfs-links-fixtures.ts';
import { diskimgBytes, withFs } from './fs-support.ts';

const fx = ntfsLinks();
const ntfsinfo = (image: string, path: string) =>
  execFileSync('ntfsinfo', ['-F', path, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe.skipIf('unavailable' in fx)(
  `NTFS links and streams made through ntfs-3g${'unavailable' in fx ? ` (skipped: ${fx.unavailable})` : ''}`,
  () => {
    const { image, linked } = fx as Exclude<typeof fx, { unavailable: string }>;
    let scratch: string;
    let mount: string;
    // ntfsinfo and ntfscat refuse a mounted volume: asked before ntfs-3g mounts it.
    const info: Record<string, string> = {};
    let catted: Buffer;
    beforeAll(() => {
      for (const name of [...Object.keys(REPARSE_TARGETS), 'linked.bin']) info[name] = ntfsinfo(image, `/${name}`);
      catted = execFileSync('ntfscat', [image, '/linked.bin']);
      scratch = mkdtempSync(join(tmpdir(), 'diskimg-fs-ntfs-links-'));
      mount = join(scratch, 'mount');
      execFileSync('mkdir', [mount]);
      execFileSync('ntfs-3g', ['-o', 'ro,streams_interface=xattr', image, mount]);
    });
    afterAll(() => {
      execFileSync('umount', [mount]);
      rmSync(scratch, { recursive: true, force: true });
    });

    it('reparse points are symlinks: a relative one to where ntfs-3g reads it, an absolute one and a junction to their print names', async () => {
      for (const name of Object.keys(REPARSE_TARGETS)) expect(info[name]).toMatch(/File attributes:.*REPARSE_POINT/);
      const run = await diskimgBytes('fs', 'ls', '--output=json', image, '/');
      const listed = Object.fromEntries(
        (JSON.parse(run.stdout.toString()) as Array<{ path: string; type: string; target?: string; size: number }>).map((e) => [e.path, e]),
      );
      for (const [name, print] of Object.entries(REPARSE_TARGETS)) {
        expect(listed[`/${name}`]).toMatchObject({ type: 'symlink', target: print.replace(/\\/g, '/') });
        expect(listed[`/${name}`].size).toBe(Buffer.byteLength(print));
      }
      // ntfs-3g follows the relative link the same way, and maps C:\ to its mount point.
      expect(readlinkSync(join(mount, 'relative-link'))).toBe(listed['/relative-link'].target);
      expect(readlinkSync(join(mount, 'absolute-link'))).toBe(`${mount}/target-dir/f.txt`);
      expect(readlinkSync(join(mount, 'junction'))).toBe(`${mount}/target-dir`);
      const long = await diskimgBytes('fs', 'ls', '-l', image, '/junction');
      expect(long.stdout.toString()).toMatch(/^l.* \/junction -> C:\/target-dir\n$/);
    });

    it('a file whose attributes overflow into extension records: all nine names, each with 9 links and the bytes that went in', async () => {
      expect(info['linked.bin']).toContain('$ATTRIBUTE_LIST');
      const records = new Set(
        [...info['linked.bin'].matchAll(/Dumping attribute \S+ \(0x[0-9a-f]+\) from mft record (\d+)/g)].map((m) => m[1]),
      );
      expect(records.size).toBeGreaterThan(2);
      const want = readFileSync(linked);
      expect(catted.equals(want)).toBe(true);
      await withFs(image, undefined, async (fs) => {
        const names = (await fs.list(await fs.resolve('/'))).filter((e) => e.name === 'linked.bin' || e.name.startsWith('link-'));
        expect(names.map((e) => e.name).sort()).toEqual(['linked.bin', ...LINK_NAMES].sort());
        for (const entry of names) {
          expect(entry).toMatchObject({ type: 'file', size: want.length, nlink: 9 });
          const parts: Uint8Array[] = [];
          for await (const chunk of fs.read(entry)) parts.push(chunk);
          expect(Buffer.concat(parts).equals(want)).toBe(true);
        }
      });
    });

    it('its thirty alternate data streams are listed with their sizes, the ones ntfs-3g lists', async () => {
      const path = join(mount, 'linked.bin');
      const theirs = execFileSync(
        'python3',
        [
          '-c',
          'import os, sys, json; p = sys.argv[1]; print(json.dumps({n[5:]: len(os.getxattr(p, n)) for n in os.listxattr(p) if n.startswith("user.")}))',
          path,
        ],
        { encoding: 'utf8' },
      );
      const want = JSON.parse(theirs) as Record<string, number>;
      expect(Object.keys(want)).toHaveLength(30);
      const run = await diskimgBytes('fs', 'ls', '--output=json', image, '/linked.bin');
      const streams = JSON.parse(run.stdout.toString())[0].streams as Array<{ name: string; size: number }>;
      expect(Object.fromEntries(streams.map((s) => [s.name, s.size]))).toEqual(want);
      expect(streams).toHaveLength(30);
    });
  },
);
