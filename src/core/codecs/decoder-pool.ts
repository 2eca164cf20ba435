/**
 * Compressed-cluster decoding spread over threads, for any platform (the page's workers): the
 * asynchronous decoders (DecodeClusterLater) a qcow2 layer takes. As for compression, clusters go
 * in batches — their inputs packed into one buffer, their outputs into another, both transferred
 * there and back and reused — because a message per 64 KiB cluster costs more than decoding it.
 * A thread decodes with the same in-thread decoders the engine uses, so a damaged cluster comes
 * back as null and the layer's error is the one in-thread decoding gives.
 */
import type { ClusterDecoders, DecodeCluster } from './decoders.ts';

export type DecodeCodec = 'zlib' | 'zstd';

const BATCH = 16;
/** Buffers kept for reuse, of each kind: enough for every thread's batches in flight. */
const SPARE_BUFFERS = 16;

export interface DecodeRequest {
  ids: number[];
  codecs: DecodeCodec[];
  /** The compressed clusters back to back, `inputLengths[i]` bytes each. */
  input: ArrayBuffer;
  inputLengths: number[];
  /** Room for the decoded clusters back to back, `outputLengths[i]` bytes each (a cluster's size). */
  output: ArrayBuffer;
  outputLengths: number[];
}

export interface DecodeReply {
  ids: number[];
  /** Per cluster: whether it decoded to exactly its output length (false: damaged). */
  decoded: boolean[];
  /** The request's buffers, handed back (transferred); `output` holds the decoded clusters. */
  input: ArrayBuffer;
  output: ArrayBuffer;
  /** The decoders that ran in the thread, by name (what a test or a bench asks: did the pool decode?). */
  ran: string[];
}

/** Named in-thread decoders, as a thread of the pool holds them. */
export type ThreadDecoders = Record<DecodeCodec, { name: string; decode: DecodeCluster }>;

/** A thread's side: decodes a batch into its output buffer with decoders kept for the thread's life. */
export function decodeBatch(request: DecodeRequest, decoders: ThreadDecoders): DecodeReply {
  const { ids, codecs, input, inputLengths, output, outputLengths } = request;
  const ran = new Set<string>();
  let inAt = 0;
  let outAt = 0;
  const decoded = ids.map((_, i) => {
    const source = new Uint8Array(input, inAt, inputLengths[i]);
    const target = new Uint8Array(output, outAt, outputLengths[i]);
    inAt += inputLengths[i];
    outAt += outputLengths[i];
    const decoder = decoders[codecs[i]];
    ran.add(decoder.name);
    const result = decoder.decode(source, target);
    if (result && result !== target) target.set(result);
    return result !== null;
  });
  return { ids, decoded, input, output, ran: [...ran] };
}

export interface DecodeThread {
  post(request: DecodeRequest): void;
  terminate(): unknown;
}

export type StartDecodeThread = (onReply: (reply: DecodeReply) => void, onError: (error: Error) => void) => DecodeThread;

interface Waiting {
  codec: DecodeCodec;
  input: Uint8Array;
  out: Uint8Array;
  resolve(value: Uint8Array | null): void;
  reject(error: Error): void;
}

export class DecoderPool {
  /** Started on the first cluster: most jobs have none to decode, and a thread costs its start. */
  private threads: DecodeThread[] = [];
  private load: number[] = [];
  private queues: Waiting[][] = [];
  private readonly sentIds = new Map<number, Waiting>();
  private readonly spareInputs: ArrayBuffer[] = [];
  private readonly spareOutputs: ArrayBuffer[] = [];
  private nextId = 0;
  private flushScheduled = false;
  private failure: Error | undefined;
  /** Clusters the threads decoded, and the decoders they say ran. */
  readonly decodedOnThreads = { clusters: 0, decoders: new Set<string>() };

  /** `later` sends part-filled batches once the caller's current burst of reads is done. */
  constructor(
    private readonly count: number,
    private readonly start: StartDecodeThread,
    private readonly later: (flush: () => void) => void,
  ) {}

  /** The layer's decoders: each cluster decoded on a thread. */
  get decoders(): ClusterDecoders {
    return { zlib: (input, out) => this.decode('zlib', input, out), zstd: (input, out) => this.decode('zstd', input, out) };
  }

  /** Fills `out` with the decoded cluster (`input` is read before the batch leaves), or null when it is damaged. */
  decode(codec: DecodeCodec, input: Uint8Array, out: Uint8Array): Promise<Uint8Array | null> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.threads.length === 0) this.startThreads();
    const index = this.load.indexOf(Math.min(...this.load));
    this.load[index]++;
    const result = new Promise<Uint8Array | null>((resolve, reject) => this.queues[index].push({ codec, input, out, resolve, reject }));
    if (this.queues[index].length >= BATCH) this.send(index);
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.later(() => {
        this.flushScheduled = false;
        this.queues.forEach((_, i) => this.send(i));
      });
    }
    return result;
  }

  private startThreads(): void {
    this.threads = Array.from({ length: Math.max(1, this.count) }, (_, index) =>
      this.start(
        (reply) => this.settle(index, reply),
        (error) => this.fail(error),
      ),
    );
    this.load = this.threads.map(() => 0);
    this.queues = this.threads.map(() => []);
  }

  private settle(index: number, { ids, decoded, input, output, ran }: DecodeReply): void {
    this.load[index] -= ids.length;
    let at = 0;
    ids.forEach((id, i) => {
      const job = this.sentIds.get(id);
      this.sentIds.delete(id);
      if (!job) return;
      const length = job.out.length;
      if (decoded[i]) {
        job.out.set(new Uint8Array(output, at, length));
        this.decodedOnThreads.clusters++;
      }
      at += length;
      job.resolve(decoded[i] ? job.out : null);
    });
    for (const name of ran) this.decodedOnThreads.decoders.add(name);
    if (this.spareInputs.length < SPARE_BUFFERS) this.spareInputs.push(input);
    if (this.spareOutputs.length < SPARE_BUFFERS) this.spareOutputs.push(output);
  }

  private fail(error: Error): void {
    this.failure = error;
    for (const job of this.sentIds.values()) job.reject(error);
    this.sentIds.clear();
    for (const queue of this.queues) for (const job of queue.splice(0)) job.reject(error);
  }

  private send(index: number): void {
    const batch = this.queues[index];
    if (batch.length === 0) return;
    this.queues[index] = [];
    const inputLengths = batch.map((job) => job.input.length);
    const outputLengths = batch.map((job) => job.out.length);
    const input = packInto(
      reused(this.spareInputs, sum(inputLengths)),
      batch.map((job) => job.input),
    );
    const output = reused(this.spareOutputs, sum(outputLengths));
    const ids = batch.map((job) => {
      const id = this.nextId++;
      this.sentIds.set(id, job);
      return id;
    });
    this.threads[index].post({ ids, codecs: batch.map((job) => job.codec), input, inputLengths, output, outputLengths });
  }

  /** Ends the threads; a cluster still waiting for one fails rather than waits forever. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.terminate()));
    this.fail(new Error('the decoding threads were closed'));
  }
}

const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/** A spare buffer of at least `size` bytes, or a new one (fresh memory costs its page faults: reuse first). */
function reused(spare: ArrayBuffer[], size: number): ArrayBuffer {
  const at = spare.findIndex((buffer) => buffer.byteLength >= size);
  return at >= 0 ? spare.splice(at, 1)[0] : new ArrayBuffer(size);
}

function packInto(buffer: ArrayBuffer, parts: Uint8Array[]): ArrayBuffer {
  const packed = new Uint8Array(buffer);
  let at = 0;
  for (const part of parts) {
    packed.set(part, at);
    at += part.length;
  }
  return buffer;
}
