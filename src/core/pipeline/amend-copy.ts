/**
 * qemu-img amend into a new file: the input with its compat level, lazy refcounts, refcount width
 * or LUKS key slots changed — its internal snapshots, bitmaps and layout kept, which a conversion
 * would not — the input itself untouched. The in-place code (formats/qcow2/amend.ts, keyslots.ts)
 * runs over a PatchedStorage, as for a snapshot copy.
 */
import type { CryptoProvider } from '../crypto/provider.ts';
import { DiskImgError } from '../errors.ts';
import { amendQcow2, type AmendRequest } from '../formats/qcow2/amend.ts';
import { amendKeySlots, type KeySlotRequest } from '../formats/qcow2/keyslots.ts';
import type { Sink } from '../sink.ts';
import type { Storage } from '../storage/storage.ts';
import { copyWithChanges, type SnapshotCopyOptions } from './snapshot-copy.ts';

export interface AmendCopyRequest {
  amend: AmendRequest;
  /** A passphrase added to a free key slot, or one removed (the slot it opens), of a LUKS-encrypted qcow2. */
  keySlots?: { add?: string; remove?: string };
  /** A passphrase the image opens with: key slot changes need one (qemu-img's encrypt.key-secret). */
  passphrase?: string;
}

const bytes = (text: string) => new TextEncoder().encode(text);

/** Writes `input` amended as `request` says into `sink`; returns the output's length. */
export async function copyWithAmend(
  input: Storage,
  request: AmendCopyRequest,
  sink: Sink,
  crypto: CryptoProvider,
  options: SnapshotCopyOptions = {},
): Promise<number> {
  return copyWithChanges(
    input,
    async (patched, layer) => {
      const { add, remove } = request.keySlots ?? {};
      if (add !== undefined || remove !== undefined) {
        const luks = layer.encryptionInfo?.luks;
        if (!luks) throw new DiskImgError('usage', 'Only a LUKS-encrypted qcow2 has key slots to change', { field: 'encrypt' });
        if (request.passphrase === undefined)
          throw new DiskImgError('needs-passphrase', 'Changing key slots needs a passphrase the image opens with', { field: 'encrypt' });
        // As qemu-img amend: a passphrase is added (encrypt.state=active, encrypt.new-secret), or the
        // slots a passphrase opens are erased (encrypt.state=inactive, encrypt.old-secret).
        const slotRequest: KeySlotRequest =
          add !== undefined ? { state: 'active', newSecret: bytes(add) } : { state: 'inactive', oldSecret: bytes(remove!) };
        await amendKeySlots(patched, layer.extensions, luks, slotRequest, bytes(request.passphrase), false, crypto);
      }
      await amendQcow2(patched, layer.header, layer.extensions, request.amend, { hasBacking: layer.backingFilename !== undefined });
    },
    sink,
    options,
    'qemu-img amend changes qcow2 images',
  );
}
