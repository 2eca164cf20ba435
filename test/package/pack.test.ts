/**
 * The package as a user gets it: `npm pack` (which builds the CLI and the library through
 * prepack, in a copy of the sources), the tarball installed in an empty folder with nothing but
 * its runtime dependencies, `npx diskimg` checked against qemu-img, and the example app
 * (examples/node-info) and README's library examples type-checked and run against the installed
 * package's public entry points only.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { qemuImg, qemuIo, scratchDir } from '../support/qemu.ts';

const REPO = resolve(import.meta.dirname, '../..');
const work = scratchDir('diskimg-pack-');
const app = join(work, 'app');
const example = join(work, 'node-info');
let tarball = '';

/** Without the npm_* variables of an enclosing `npm test`, which would point npm at this repository. */
const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_')));

function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  } catch (error) {
    // tsc reports on stdout: show both streams.
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}${stderr ?? ''}`, { cause: error });
  }
}

/** Installs the tarball as a user would; the npm cache answers when it can. */
const install = (cwd: string) => run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], cwd);
const diskimg = (...args: string[]) => run('npx', ['--no', '--', 'diskimg', ...args], app);

async function helpText(): Promise<string> {
  let out = '';
  await main(['--help'], { stdout: (s) => void (out += s), stderr: () => {} });
  return out;
}

/**
 * Packs a copy of what the package is built from, so that prepack's builds never rewrite this
 * repository's dist-cli/ while other tests run it.
 */
function packACopy(): void {
  const copy = join(work, 'source');
  for (const part of ['package.json', 'README.md', 'tsconfig.lib.json', 'scripts', 'src', 'workers'])
    cpSync(join(REPO, part), join(copy, part), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
  run('npm', ['pack', '--pack-destination', work], copy);
}

beforeAll(() => {
  packACopy();
  tarball = join(
    work,
    readdirSync(work).find((name) => name.endsWith('.tgz'))!,
  );
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'pack-test', private: true, type: 'module' }));
  install(app);
}, 900_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the packed package', () => {
  it('installs only its runtime dependencies, and ships no sources or tests', () => {
    const installed = readdirSync(join(app, 'node_modules'));
    expect(installed).toContain('diskimg');
    for (const dev of ['svelte', 'vite', 'vitest', 'typescript', 'comlink', 'esbuild']) expect(installed).not.toContain(dev);
    const shipped = readdirSync(join(app, 'node_modules/diskimg'));
    expect(shipped.sort()).toEqual(['README.md', 'dist-cli', 'dist-lib', 'package.json']);
  });

  it('npx diskimg --help prints what the sources print', async () => {
    expect(diskimg('--help')).toBe(await helpText());
  });

  it('npx diskimg info says what qemu-img info says, in both outputs', () => {
    const image = join(work, 'disk.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'cluster_size=65536', image, '256M');
    qemuIo(image, 'write -P 0xab 1M 3M', 'write -z 64M 1M');
    expect(diskimg('info', image)).toBe(qemuImg('info', image));
    expect(diskimg('info', '--output=json', image)).toBe(qemuImg('info', '--output=json', image));
    expect(diskimg('map', '--output=json', image)).toBe(qemuImg('map', '--output=json', image));
  });

  it('npx diskimg convert -c with zstd loads its WebAssembly from the installed dependency', () => {
    const image = join(work, 'zstd-in.qcow2');
    const out = join(work, 'zstd-out.qcow2');
    qemuImg('create', '-f', 'qcow2', image, '64M');
    qemuIo(image, 'write -P 0x31 0 4M', 'write -P 0x32 32M 1M');
    diskimg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', image, out);
    expect(JSON.parse(qemuImg('info', '--output=json', out))['format-specific'].data['compression-type']).toBe('zstd');
    expect(qemuImg('check', out)).toContain('No errors were found');
    expect(qemuImg('compare', image, out)).toContain('Images are identical.');
  });

  it('the browser entry bundles for a browser with no Node module in it', async () => {
    const entry = join(app, 'page.js');
    writeFileSync(
      entry,
      "import { BlobStorage, openImage, SyncAccessSink, convertImage } from 'diskimg/browser';\nexport { BlobStorage, openImage, SyncAccessSink, convertImage };\n",
    );
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      absWorkingDir: app,
      logLevel: 'silent',
    });
    const text = result.outputFiles[0].text;
    expect(text).toMatch(/SyncAccessSink = class/);
    expect(text).not.toMatch(/from\s*["']node:|require\(["']node:/);
  });
});

describe('examples/node-info against the packed package', () => {
  beforeAll(() => {
    cpSync(join(REPO, 'examples/node-info'), example, {
      recursive: true,
      filter: (path) => !/node_modules|dist|package-lock/.test(path.slice(REPO.length)),
    });
    install(example);
    run('npm', ['run', 'build'], example);
  }, 900_000);

  it('reads a qcow2 as qemu-img does and converts a Blob of it into a qcow2 stream qemu-img finds identical', () => {
    const image = join(work, 'example.qcow2');
    const out = join(work, 'example-out.qcow2');
    qemuImg('create', '-f', 'qcow2', image, '64M');
    qemuIo(image, 'write -P 0x55 0 512', 'write -P 0xaa 510 2', 'write -P 0x7e 8M 2M');
    const printed = run('node', ['dist/info.js', image, out], example);
    const info = JSON.parse(qemuImg('info', '--output=json', image));
    expect(printed).toContain(`format: ${info.format}\nvirtual size: ${info['virtual-size']}\n`);
    expect(printed).toContain(`first sector: ${'55'.repeat(16)}… ends aaaa\n`);
    expect(qemuImg('check', out)).toContain('No errors were found');
    expect(qemuImg('compare', '-f', 'qcow2', '-F', 'qcow2', image, out)).toContain('Images are identical.');
  });

  it("README's library examples type-check against the installed package", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.split('## As a library')[1].split('\n## ')[0];
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]);
    expect(blocks.length).toBe(3);
    // What the examples take from the page around them.
    const given =
      'declare const input: HTMLInputElement;\ndeclare const writable: WritableStream<Uint8Array>;\ndeclare const blob: Blob;\n';
    const files = blocks.map((code, i) => {
      writeFileSync(join(example, `readme-${i}.ts`), `${given}${code}`);
      return `readme-${i}.ts`;
    });
    writeFileSync(
      join(example, 'tsconfig.readme.json'),
      JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: true, noUnusedLocals: false }, files }),
    );
    run('npx', ['--no', '--', 'tsc', '-p', 'tsconfig.readme.json'], example);
  });

  it("lists an ISO's root folder as xorriso made it", () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'boot'), { recursive: true });
    writeFileSync(join(tree, 'README.TXT'), 'hello\n');
    writeFileSync(join(tree, 'boot/grub.cfg'), 'menuentry\n');
    const iso = join(work, 'example.iso');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-V', 'EXAMPLE_DISC', '-o', iso, tree], { stdio: 'ignore' });
    expect(run('node', ['dist/info.js', iso], example)).toBe('disc: EXAMPLE_DISC\n  d boot\n  - README.TXT\n');
  });
});
