/**
 * qemu-img amend -o encrypt.* on a LUKS-encrypted qcow2: a passphrase added to a key slot, or key
 * slots erased (qcrypto_block_luks_amend_add_keyslot / _erase_keyslots), with QEMU's checks in its
 * order and its words, and its refusals that --force lifts. The writes go into the LUKS header
 * region the crypto extension names: an added key's material first, synced, then the slot
 * marked active; an erased slot marked inactive first, then its material overwritten. A crash
 * leaves every other slot as it was, so the image still opens with the passphrases it had.
 */
import type { CryptoProvider } from '../../crypto/provider.ts';
import {
  DEFAULT_ITER_TIME_MS,
  LUKS_SLOTS,
  luksAddKey,
  luksEraseKey,
  luksSlotOpens,
  unlockLuks,
  type LuksHeader,
  type LuksRegion,
} from '../../crypto/luks.ts';
import { DiskImgError } from '../../errors.ts';
import type { WritableStorage } from '../../storage/writable.ts';
import type { Extensions } from './extensions.ts';

export interface KeySlotRequest {
  state: 'active' | 'inactive';
  keyslot?: number;
  newSecret?: Uint8Array;
  oldSecret?: Uint8Array;
  iterTime?: number;
}

const refuse = (message: string): never => {
  throw new DiskImgError('usage', message, { field: 'encrypt' });
};

export async function amendKeySlots(
  file: WritableStorage,
  ext: Extensions,
  luks: LuksHeader,
  request: KeySlotRequest,
  /** The passphrase the image was opened with (encrypt.key-secret). */
  passphrase: Uint8Array,
  force: boolean,
  provider: CryptoProvider,
): Promise<void> {
  const crypto = ext.crypto!;
  const region: LuksRegion = {
    read: (offset, length) => {
      if (offset + length > crypto.length) refuse('Request for data outside of extension header');
      return file.read(crypto.offset + offset, length);
    },
    write: (offset, bytes) => {
      if (offset + bytes.length > crypto.length) refuse('Request for data outside of extension header');
      return file.write(crypto.offset + offset, bytes);
    },
    sync: () => file.sync(),
  };
  const active = luks.slots.filter((s) => s.active).length;
  const checkIndex = (slot: number) => {
    if (slot < 0 || slot >= LUKS_SLOTS) refuse(`Invalid keyslot ${slot} specified, must be between 0 and ${LUKS_SLOTS - 1}`);
  };
  if (request.state === 'active') {
    if (request.newSecret === undefined) refuse("'new-secret' is required to activate a keyslot");
    if (request.oldSecret !== undefined) refuse("'old-secret' must not be given when activating keyslots");
    let slot: number;
    if (request.keyslot !== undefined) {
      slot = request.keyslot;
      checkIndex(slot);
    } else {
      slot = luks.slots.findIndex((s) => !s.active);
      if (slot < 0) refuse("Can't add a keyslot - all keyslots are in use");
    }
    if (!force && luks.slots[slot].active) refuse(`Refusing to overwrite active keyslot ${slot} - please erase it first`);
    const masterKey = await unlockLuks(luks, passphrase, region.read, provider);
    await luksAddKey(luks, region, slot, masterKey, request.newSecret!, request.iterTime ?? DEFAULT_ITER_TIME_MS, provider);
    return;
  }
  if (request.newSecret !== undefined) refuse("'new-secret' must not be given when erasing keyslots");
  if (request.iterTime !== undefined) refuse("'iter-time' must not be given when erasing keyslots");
  if (request.keyslot !== undefined) {
    const slot = request.keyslot;
    checkIndex(slot);
    if (request.oldSecret !== undefined && !(await luksSlotOpens(luks, slot, request.oldSecret, region.read, provider)))
      refuse(`Given keyslot ${slot} doesn't contain the given old password for erase operation`);
    if (!force && !luks.slots[slot].active) refuse(`Given keyslot ${slot} is already erased (inactive) `);
    if (!force && active === 1)
      refuse(
        `Attempt to erase the only active keyslot ${slot} which will erase all the data in the image irreversibly - refusing operation`,
      );
    await luksEraseKey(luks, region, slot);
    return;
  }
  if (request.oldSecret === undefined)
    refuse('To erase keyslot(s), either explicit keyslot index or the password currently contained in them must be given');
  const matching: number[] = [];
  for (let slot = 0; slot < LUKS_SLOTS; slot++)
    if (await luksSlotOpens(luks, slot, request.oldSecret!, region.read, provider)) matching.push(slot);
  if (matching.length === 0) refuse('No keyslots match given (old) password for erase operation');
  if (!force && matching.length === active)
    refuse(
      'All the active keyslots match the (old) password that was given and erasing them will erase all the data in the image irreversibly - refusing operation',
    );
  for (const slot of matching) await luksEraseKey(luks, region, slot);
}
