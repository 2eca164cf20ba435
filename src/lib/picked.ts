/** A file the user opened, with its handle where the browser gave one (picker, drop, launch). */
export interface Picked {
  file: File;
  handle?: FileSystemFileHandle;
}
