/**
 * LVM2 volumes this machine's LVM cannot create (raid1 and thin need device-mapper, which is not
 * here): two PVs with six linear LVs made by lvcreate --driverloaded n, the volume group's
 * metadata saved by vgcfgbackup, its LVs renamed and regrouped in that text into a raid1 LV (two
 * rimage and two rmeta sub-LVs, as lvcreate --type raid1 -m1 lays them out), a thin pool (tdata
 * and tmeta) and a thin LV in it, and written back by vgcfgrestore --force, which checks the
 * metadata before writing it (lvs then reports the segment types). Built once, keyed by this file.
 */
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedFixtures } from '../support/fixture-cache.ts';
import { MiB } from './fs-fixtures.ts';
import { lvm, uniqueVg, withLoops } from './fs-lvm-fixtures.ts';

export interface RaidThin {
  /** The first PV (whole disk): it holds every LV's metadata, and raid1's first image, the pool's data and metadata. */
  image: string;
  vg: string;
  /** What lvs said of the restored VG: each LV and its segment type. */
  lvs: string;
}

/** The text of `lv`'s block in vgcfgbackup's output, renamed to `name`, and hidden (a sub-LV) unless `visible`. */
function renameLv(text: string, lv: string, name: string): string {
  return text.replace(
    new RegExp(`\\n\\t\\t${lv} \\{\\n([\\s\\S]*?)\\n\\t\\t\\}\\n`),
    (_block, body: string) => `\n\t\t${name} {\n${body.replace('"READ", "WRITE", "VISIBLE"', '"READ", "WRITE"')}\n\t\t}\n`,
  );
}

const TOP_LEVEL = `
\t\tmirror {
\t\t\tid = "Rd1Lv0-aaaa-bbbb-cccc-dddd-eeee-ffff01"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 4
\t\t\t\ttype = "raid1"
\t\t\t\tdevice_count = 2
\t\t\t\tregion_size = 1024
\t\t\t\traids = ["mirror_rmeta_0", "mirror_rimage_0", "mirror_rmeta_1", "mirror_rimage_1"]
\t\t\t}
\t\t}
\t\tpool {
\t\t\tid = "ThPool-aaaa-bbbb-cccc-dddd-eeee-ffff02"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 4
\t\t\t\ttype = "thin-pool"
\t\t\t\tmetadata = "pool_tmeta"
\t\t\t\tpool = "pool_tdata"
\t\t\t\ttransaction_id = 1
\t\t\t\tchunk_size = 128
\t\t\t\tdiscards = "passdown"
\t\t\t\tzero_new_blocks = 0
\t\t\t}
\t\t}
\t\tthin {
\t\t\tid = "ThinLv-aaaa-bbbb-cccc-dddd-eeee-ffff03"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 8
\t\t\t\ttype = "thin"
\t\t\t\tthin_pool = "pool"
\t\t\t\ttransaction_id = 0
\t\t\t\tdevice_id = 1
\t\t\t}
\t\t}
`;

export function raidThinFixtures(): RaidThin {
  return cachedFixtures('diskimg-fs-lvm-raid-thin', import.meta.url, (dir) => {
    const [a, b] = [join(dir, 'pv-a.img'), join(dir, 'pv-b.img')];
    for (const file of [a, b]) {
      writeFileSync(file, '');
      truncateSync(file, 16 * MiB);
    }
    const vg = uniqueVg('r');
    const backup = join(dir, 'vg.txt');
    let lvs = '';
    withLoops(vg, [{ file: a }, { file: b }], ([pa, pb]) => {
      lvm('pvcreate', '-ff', '-y', pa, pb);
      lvm('vgcreate', '-s', '1M', vg, pa, pb);
      const lv = (name: string, mib: number, pv: string) =>
        lvm('lvcreate', '--driverloaded', 'n', '-an', '-Zn', '-L', `${mib}M`, '-n', name, vg, pv);
      lv('image0', 4, pa);
      lv('image1', 4, pb);
      lv('meta0', 1, pa);
      lv('meta1', 1, pb);
      lv('tdata', 4, pa);
      lv('tmeta', 1, pa);
      lvm('vgcfgbackup', '-f', backup, vg);
      let text = readFileSync(backup, 'utf8');
      for (const [from, to] of [
        ['image0', 'mirror_rimage_0'],
        ['image1', 'mirror_rimage_1'],
        ['meta0', 'mirror_rmeta_0'],
        ['meta1', 'mirror_rmeta_1'],
        ['tdata', 'pool_tdata'],
        ['tmeta', 'pool_tmeta'],
      ])
        text = renameLv(text, from, to);
      writeFileSync(backup, text.replace('\tlogical_volumes {\n', `\tlogical_volumes {\n${TOP_LEVEL}`));
      lvm('vgcfgrestore', '--force', '-f', backup, vg);
      lvs = lvm('lvs', '-a', '--noheadings', '-o', 'lv_name,segtype', vg);
    });
    return { image: a, vg, lvs };
  });
}
