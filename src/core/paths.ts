/**
 * QEMU's path_combine: a relative backing name is relative to the directory of the image that
 * names it. Pure string work, so it runs in the browser too (where "directories" are just names).
 */
export function isAbsolutePath(name: string): boolean {
  return name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\\\');
}

export function combinePath(baseFile: string, name: string): string {
  if (isAbsolutePath(name) || name === '') return name;
  const slash = Math.max(baseFile.lastIndexOf('/'), baseFile.lastIndexOf('\\'));
  return slash < 0 ? name : baseFile.slice(0, slash + 1) + name;
}
