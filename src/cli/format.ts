/** qemu-img's human output formats, rebuilt from its C format strings. */
import { qdictKeyOrder } from '../core/qemu-json.ts';
import type { SnapshotInfo } from '../core/info.ts';
import type { PartitionReport } from '../core/partitions/index.ts';

const SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** C's "%0.3g". */
export function formatG3(value: number): string {
  if (value === 0) return '0';
  const exponent = Math.floor(Math.log10(Math.abs(value)));
  let text = value.toPrecision(3);
  if (text.includes('e') || exponent >= 3 || exponent < -4) {
    const [mantissa, exp] = value.toExponential(2).split('e');
    const trimmed = mantissa.includes('.') ? mantissa.replace(/0+$/, '').replace(/\.$/, '') : mantissa;
    const e = Number(exp);
    return `${trimmed}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (text.includes('.')) text = text.replace(/0+$/, '').replace(/\.$/, '');
  return text;
}

/** util/cutils.c size_to_str: "977 KiB", "8.25 MiB", "0 B". */
export function sizeToStr(bytes: number): string {
  let i = 0;
  if (bytes > 0) {
    // frexp(val / (1000/1024)) gives an exponent e with 2^(e-1) <= x < 2^e.
    const exponent = Math.floor(Math.log2(bytes / (1000 / 1024))) + 1;
    i = Math.max(0, Math.floor((exponent - 1) / 10));
  }
  return `${formatG3(bytes / 2 ** (i * 10))} ${SUFFIXES[i]}B`;
}

const pad = (text: string, width: number, left = true) => (left ? text.padEnd(width) : text.padStart(width));

export function snapshotHeader(): string {
  return `${pad('ID', 10)}${pad('TAG', 17)}${pad('VM SIZE', 8, false)}${pad('DATE', 20, false)}${pad('VM CLOCK', 13, false)}${pad('ICOUNT', 11, false)}`;
}

const two = (n: number) => String(n).padStart(2, '0');

export function snapshotRow(s: SnapshotInfo): string {
  const d = new Date(s['date-sec'] * 1000);
  const date = `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const secs = s['vm-clock-sec'];
  const clock = `${two(Math.floor(secs / 3600))}:${two(Math.floor(secs / 60) % 60)}:${two(secs % 60)}.${String(Math.floor(s['vm-clock-nsec'] / 1e6)).padStart(3, '0')}`;
  const icount = s.icount === undefined ? '' : String(s.icount);
  return `${pad(s.id, 9)} ${pad(s.name, 16)} ${pad(sizeToStr(s['vm-state-size']), 8, false)}${pad(date, 20, false)}${pad(clock, 13, false)}${pad(icount, 11, false)}`;
}

export function snapshotTable(snapshots: readonly SnapshotInfo[]): string {
  return `Snapshot list:\n${snapshotHeader()}\n${snapshots.map((s) => `${snapshotRow(s)}\n`).join('')}`;
}

/** block/qapi.c dump_qobject: nested keys indented by 4, '-' shown as ' ', lists as [i]. */
export function dumpQObject(value: unknown, indent: number): string {
  const spaces = ' '.repeat(indent * 4);
  if (Array.isArray(value)) {
    return value
      .map((item, i) => {
        const composite = typeof item === 'object' && item !== null;
        return `${spaces}[${i}]:${composite ? `\n${dumpQObject(item, indent + 1)}` : ` ${String(item)}\n`}`;
      })
      .join('');
  }
  if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    return qdictKeyOrder(Object.keys(object))
      .map((key) => {
        const item = object[key];
        const composite = typeof item === 'object' && item !== null;
        return `${spaces}${key.replace(/-/g, ' ')}:${composite ? `\n${dumpQObject(item, indent + 1)}` : ` ${String(item)}\n`}`;
      })
      .join('');
  }
  return `${String(value)}\n`;
}

/** bdrv_image_info_dump, as qemu-img 7.2 prints `info`. */
export function infoHuman(info: Record<string, unknown>): string {
  const lines: string[] = [];
  const actual = info['actual-size'];
  lines.push(`image: ${info.filename}`);
  lines.push(`file format: ${info.format}`);
  lines.push(`virtual size: ${sizeToStr(info['virtual-size'] as number)} (${info['virtual-size']} bytes)`);
  lines.push(`disk size: ${typeof actual === 'number' ? sizeToStr(actual) : 'unavailable'}`);
  if (info.encrypted) lines.push('encrypted: yes');
  if (info['cluster-size'] !== undefined) lines.push(`cluster_size: ${info['cluster-size']}`);
  if (info['dirty-flag']) lines.push('cleanly shut down: no');
  let out = `${lines.join('\n')}\n`;
  if (info['backing-filename'] !== undefined) {
    const full = info['full-backing-filename'];
    out += `backing file: ${info['backing-filename']}`;
    if (full === undefined) out += ' (cannot determine actual path)';
    else if (full !== info['backing-filename']) out += ` (actual path: ${full})`;
    out += '\n';
    if (info['backing-filename-format'] !== undefined) out += `backing file format: ${info['backing-filename-format']}\n`;
  }
  const snapshots = info.snapshots as SnapshotInfo[] | undefined;
  if (snapshots && snapshots.length > 0) out += snapshotTable(snapshots);
  const specific = info['format-specific'] as { data: unknown } | undefined;
  if (specific) out += `Format specific information:\n${dumpQObject(specific.data, 1)}`;
  return out;
}

/**
 * printf("%.Nf"): glibc rounds an exact tie to even (2/64 = 3.125 → "3.12"), where toFixed rounds
 * it up ("3.13"). Ties are only possible for binary-exact values, so the test below is exact.
 */
export function printfFixed(value: number, digits: number): string {
  const scaled = value * 10 ** digits;
  if (Number.isInteger(scaled * 2) && !Number.isInteger(scaled)) {
    const down = Math.floor(scaled);
    return ((down % 2 === 0 ? down : down + 1) / 10 ** digits).toFixed(digits);
  }
  return value.toFixed(digits);
}

/** qemu-img check's human summary (dump_human_image_check). */
export function checkHuman(c: Record<string, number>): string {
  let out = '';
  if (!(c.corruptions || c.leaks || c['check-errors'])) out += 'No errors were found on the image.\n';
  else {
    if (c.corruptions)
      out += `\n${c.corruptions} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n`;
    if (c.leaks) out += `\n${c.leaks} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n`;
    if (c['check-errors']) out += `\n${c['check-errors']} internal errors have occurred during the check.\n`;
  }
  const total = c['total-clusters'];
  const allocated = c['allocated-clusters'];
  if (total && allocated) {
    const pct = (n: number, of: number) => printfFixed((n * 100) / of, 2);
    out += `${allocated}/${total} = ${pct(allocated, total)}% allocated, ${pct(c['fragmented-clusters'], allocated)}% fragmented, ${pct(c['compressed-clusters'], allocated)}% compressed clusters\n`;
  }
  if (c['image-end-offset']) out += `Image end offset: ${c['image-end-offset']}\n`;
  return out;
}

/** C's "%#-16lx": 0 prints as "0", others with 0x; left-aligned in 16 columns. */
export const hex16 = (n: number) => (n === 0 ? '0' : `0x${n.toString(16)}`).padEnd(16);

/** Our own section after qemu-img's info: the partition table and file systems of the guest disk. */
export function partitionsHuman(report: PartitionReport): string {
  const bytes = (n: number) => `${n} (${sizeToStr(n)})`;
  let out = 'Partitions:\n';
  out += `    scheme: ${report.scheme === 'none' ? 'none (no partition table)' : report.scheme}\n`;
  if (report['disk-guid'] !== undefined) out += `    disk guid: ${report['disk-guid']}\n`;
  if (report['disk-id'] !== undefined) out += `    disk id: ${report['disk-id']}\n`;
  if (report['sector-size'] !== undefined) out += `    sector size: ${report['sector-size']}\n`;
  for (const p of report.partitions) {
    out += `    [${p.index}]:\n`;
    out += `        start: ${bytes(p.start)}\n`;
    out += `        size: ${bytes(p.size)}\n`;
    const code = p.type.guid ?? (p.type.code !== undefined ? `0x${p.type.code}` : undefined);
    out += `        type: ${p.type.name}${code !== undefined ? ` (${code})` : ''}\n`;
    if (p.name !== undefined) out += `        name: ${p.name}\n`;
    if (p.uuid !== undefined) out += `        uuid: ${p.uuid}\n`;
    if (p.attributes !== undefined) out += `        attributes: ${p.attributes}\n`;
    if (p.bootable) out += '        bootable: yes\n';
    if (p.extended) out += '        extended: yes (holds the logical partitions)\n';
    const fs = p.filesystem;
    if (fs) {
      out += `        filesystem: ${fs.type}${fs.version !== undefined ? ` (${fs.version})` : ''}\n`;
      if (fs.label !== undefined) out += `        label: ${fs.label}\n`;
      if (fs.uuid !== undefined) out += `        filesystem uuid: ${fs.uuid}\n`;
      if (fs.size !== undefined) out += `        filesystem size: ${bytes(fs.size)}\n`;
    } else if (!p.extended) out += '        filesystem: not recognised\n';
    if (p.volumes?.length === 0) out += '        logical volumes: none (the PV is in no volume group)\n';
    else if (p.volumes) {
      out += '        logical volumes:\n';
      for (const v of p.volumes)
        out += `            ${v.name}: ${v.layout}, ${bytes(v.size)}, ${v.refusal ? 'cannot be read here' : v.filesystem ? `${v.filesystem.type}${v.filesystem.label ? ` "${v.filesystem.label}"` : ''}` : 'no file system recognised'}\n`;
    }
  }
  for (const warning of report.warnings ?? []) out += `    warning: ${warning}\n`;
  return out;
}
