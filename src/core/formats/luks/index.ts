/** LUKS: a standalone LUKS1 volume as qemu's "luks" driver reads it (block/crypto.c). */
import { LUKS_MAGIC } from '../../crypto/luks.ts';
import type { FormatDriver } from '../driver.ts';
import { LuksLayer } from './layer.ts';

export const luksDriver: FormatDriver = {
  name: 'luks',
  title: "LUKS1-encrypted volume (qemu's luks driver)",
  extensions: ['luks'],
  probe(head) {
    // qcrypto_block_luks_has_format: the magic and version 1.
    return LUKS_MAGIC.every((b, i) => head[i] === b) && head[6] === 0 && head[7] === 1 ? { score: 100 } : null;
  },
  // The generic opener unlocks it with the caller's passphrase (OpenOptions.passphrase).
  open: (storage) => LuksLayer.open(storage),
};
