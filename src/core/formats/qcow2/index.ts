/** qcow2, QEMU's own format: the driver record (block/qcow2.c's qcow2_probe and qcow2_open). */
import { DiskImgError } from '../../errors.ts';
import { parseSnapshotSpec } from './snapshots.ts';
import type { Storage } from '../../storage/storage.ts';
import type { FormatDriver } from '../driver.ts';
import { INCOMPAT_DATA_FILE, hasIncompat } from './header.ts';
import { Qcow2Layer } from './layer.ts';

const QCOW_MAGIC = 0x514649fb;

export const qcow2Driver: FormatDriver = {
  name: 'qcow2',
  title:
    'QEMU copy-on-write, v2 and v3: compressed (zlib, zstd), extended L2, snapshots, backing chains, data files, LUKS and AES encryption',
  extensions: ['qcow2', 'img'],
  probe(head) {
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    return view.getUint32(0) === QCOW_MAGIC && view.getUint32(4) >= 2 ? { score: 100 } : null;
  },
  async open(storage, { options, resolveFile }) {
    const { header, extensions } = await Qcow2Layer.readMetadata(storage);
    let dataFile: Storage | undefined;
    if (hasIncompat(header, INCOMPAT_DATA_FILE) && extensions.dataFile !== undefined) {
      dataFile = (await resolveFile(extensions.dataFile)) ?? undefined;
      if (!dataFile && !options.noBacking)
        throw new DiskImgError('not-found', `Could not open '${extensions.dataFile}': No such file or directory`, {
          file: extensions.dataFile,
          field: 'data file',
        });
    }
    return Qcow2Layer.open(storage, { dataFile, snapshot: parseSnapshotSpec(options.snapshot), decoders: options.decoders });
  },
};
