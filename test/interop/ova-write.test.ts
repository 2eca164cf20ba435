/**
 * OVA output (ours: qemu-img has no OVA driver). On a seekable file (one pass) and on an
 * append-only sink (two passes): GNU tar lists the .ovf first, then the disk, then the manifest;
 * the OVF parses as XML (python3's xml.etree) with the elements VMware and VirtualBox require and
 * sizes that agree with the archive; the manifest's digests are sha256sum's; the disk reads back
 * through our OVA reader, and through qemu-img and 7-Zip once extracted.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertToOva } from '../../src/core/formats/ova/write/convert.ts';
import { AppendOnlyFileSink } from '../support/append-only-sink.ts';
import { open, scratchDir } from '../support/qemu.ts';
import { mixedRaw } from './fixtures.ts';
import { diskimg, qemuImg, qemuImgOk } from './support.ts';

const MiB = 1024 * 1024;
let dir: string;
let source: string;

beforeAll(() => {
  dir = scratchDir('diskimg-ova-write-');
  source = mixedRaw(join(dir, 'source.raw'), 5 * MiB + 7 * 512, 5);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What python3's XML parser finds in the OVF: the facts VMware and VirtualBox import by. */
function ovfFacts(file: string): Record<string, unknown> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
ns = {'o': 'http://schemas.dmtf.org/ovf/envelope/1', 'rasd': 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData'}
O = '{http://schemas.dmtf.org/ovf/envelope/1}'
root = ET.parse(sys.argv[1]).getroot()
f = root.find('o:References/o:File', ns)
d = root.find('o:DiskSection/o:Disk', ns)
vs = root.find('o:VirtualSystem', ns)
items = [{c.tag.split('}')[1]: c.text for c in item} for item in vs.findall('o:VirtualHardwareSection/o:Item', ns)]
print(json.dumps({
  'root': root.tag,
  'href': f.get(O + 'href'), 'size': int(f.get(O + 'size')), 'fileId': f.get(O + 'id'),
  'capacity': int(d.get(O + 'capacity')), 'populated': int(d.get(O + 'populatedSize')), 'format': d.get(O + 'format'), 'fileRef': d.get(O + 'fileRef'), 'diskId': d.get(O + 'diskId'),
  'network': root.find('o:NetworkSection/o:Network', ns).get(O + 'name'),
  'os': vs.find('o:OperatingSystemSection', ns) is not None,
  'name': vs.find('o:Name', ns).text,
  'items': items,
}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' }));
}

/** Every check of one OVA; `name` is the members' base name, `machine` the machine's name. */
async function expectGoodOva(ova: string, name: string, cpus: number, memory: number, machine = name): Promise<void> {
  const listing = execFileSync('tar', ['tvf', ova], { encoding: 'utf8' }).trim().split('\n');
  const names = listing.map((line) => line.split(/\s+/).pop());
  expect(names).toEqual([`${name}.ovf`, `${name}-disk1.vmdk`, `${name}.mf`]);
  const out = join(dir, `x-${name}-${Math.random().toString(36).slice(2)}`);
  mkdirSync(out);
  execFileSync('tar', ['xf', ova, '-C', out]);
  const vmdk = join(out, `${name}-disk1.vmdk`);
  const facts = ovfFacts(join(out, `${name}.ovf`));
  const virtualSize = JSON.parse(qemuImgOk('info', '--output=json', source))['virtual-size'];
  expect(facts.root).toBe('{http://schemas.dmtf.org/ovf/envelope/1}Envelope');
  expect(facts.href).toBe(`${name}-disk1.vmdk`);
  expect(facts.size).toBe(statSync(vmdk).size);
  expect(facts.fileRef).toBe(facts.fileId);
  expect(facts.capacity).toBe(virtualSize);
  expect(facts.populated).toBeGreaterThan(0);
  expect(facts.populated).toBeLessThanOrEqual(virtualSize);
  expect(facts.format).toBe('http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized');
  expect(facts.network).toBe('VM Network');
  expect(facts.os).toBe(true);
  expect(facts.name).toBe(machine);
  const items = facts.items as Array<Record<string, string>>;
  const byType = (type: number) => items.find((item) => item.ResourceType === String(type));
  expect(byType(3)?.VirtualQuantity).toBe(String(cpus));
  expect(byType(4)?.VirtualQuantity).toBe(String(memory));
  expect(byType(6)?.ResourceSubType).toBe('lsilogic');
  expect(byType(17)?.HostResource).toBe(`ovf:/disk/${facts.diskId}`);
  expect(byType(17)?.Parent).toBe(byType(6)?.InstanceID);
  // The manifest's digests are sha256sum's.
  const manifest = readFileSync(join(out, `${name}.mf`), 'utf8');
  for (const file of [`${name}.ovf`, `${name}-disk1.vmdk`]) {
    const digest = execFileSync('sha256sum', [join(out, file)], { encoding: 'utf8' }).split(' ')[0];
    expect(manifest).toContain(`SHA256(${file})= ${digest}\n`);
  }
  // The disk: qemu-img and 7-Zip on the extracted file, our reader inside the archive.
  const info = JSON.parse(qemuImgOk('info', '--output=json', vmdk));
  expect(info['format-specific'].data['create-type']).toBe('streamOptimized');
  expect(qemuImg('check', vmdk).code).toBe(0);
  expect(qemuImg('compare', source, vmdk).code).toBe(0);
  const seven = spawnSync('7z', ['t', vmdk], { encoding: 'utf8' });
  expect(seven.stdout).toContain('Everything is Ok');
  const compared = await diskimg('compare', source, ova);
  expect(compared.stdout).toContain('Images are identical');
  expect(compared.code).toBe(0);
}

describe('convert -O ova', () => {
  it('on a seekable file: one pass, the .ovf first, sizes and digests right', async () => {
    const ova = join(dir, 'vm.ova');
    const run = await diskimg('convert', '-O', 'ova', '-o', 'cpus=2,memory=2048', source, ova);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    await expectGoodOva(ova, 'vm', 2, 2048);
  }, 120_000);

  it('on an append-only sink: two passes, the disk never held whole', async () => {
    const ova = join(dir, 'streamed.ova');
    const image = await open(source);
    const sink = new AppendOnlyFileSink(ova);
    let progress = 0;
    try {
      const result = await convertToOva(image, sink, {
        ova: { cpus: 4, memory: 512, controller: 'scsi', manifest: true, name: 'Streamed VM' },
        defaultName: 'unused',
        cid: 0xabcdef,
        onProgress: (done, total) => (progress = done / total),
      });
      expect(result.length).toBe(sink.length);
    } finally {
      await sink.close();
      await image.close();
    }
    expect(progress).toBe(1);
    await expectGoodOva(ova, 'Streamed_VM', 4, 512, 'Streamed VM');
  }, 120_000);

  it('names its machine after -o name, or after the output file', async () => {
    const ova = join(dir, 'named.ova');
    expect((await diskimg('convert', '-O', 'ova', '-o', 'name=web-01,manifest=off', source, ova)).code).toBe(0);
    expect(execFileSync('tar', ['tf', ova], { encoding: 'utf8' }).trim().split('\n')).toEqual(['web-01.ovf', 'web-01-disk1.vmdk']);
  }, 120_000);

  it('refuses bad options, saying which and why', async () => {
    const ova = join(dir, 'bad.ova');
    const cases: Array<[string[], string]> = [
      [['-o', 'cpus=0'], "Parameter 'cpus' expects a whole number from 1 to 768, not '0'"],
      [['-o', 'memory=lots'], "Parameter 'memory' expects a whole number from 1 to"],
      [['-o', 'controller=usb'], "Parameter 'controller' expects scsi, sata or ide, not 'usb'"],
      [['-o', 'manifest=maybe'], "Parameter 'manifest' expects 'on' or 'off'"],
      [['-o', 'subformat=streamOptimized'], "Invalid parameter 'subformat'"],
      [['-c'], 'Compression not supported for this file format'],
    ];
    for (const [options, message] of cases) {
      const run = await diskimg('convert', '-O', 'ova', ...options, source, ova);
      expect(run.code, options.join(' ')).toBe(1);
      expect(run.stderr, options.join(' ')).toContain(message);
    }
    writeFileSync(join(dir, 'empty.raw'), '');
    const empty = await diskimg('convert', '-O', 'ova', join(dir, 'empty.raw'), ova);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('A streamOptimized VMDK of 0 bytes cannot be opened');
  });
});
