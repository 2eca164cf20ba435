/** The emscripten Module behind @bokuweb/zstd-wasm (aliased in vite.config.ts), as far as we call it. */
declare module 'zstd-wasm-module' {
  export const Module: {
    HEAPU8: Uint8Array;
    _malloc(size: number): number;
    _ZSTD_createCCtx(): number;
    _ZSTD_compressBound(size: number): number;
    _ZSTD_compress_usingDict(
      cctx: number,
      dst: number,
      capacity: number,
      src: number,
      size: number,
      dict: number,
      dictSize: number,
      level: number,
    ): number;
    _ZSTD_isError(code: number): number;
    _ZSTD_createDCtx(): number;
    _ZSTD_decompress_usingDict(
      dctx: number,
      dst: number,
      capacity: number,
      src: number,
      size: number,
      dict: number,
      dictSize: number,
    ): number;
  };
}
