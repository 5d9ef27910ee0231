// firmware-samples/esp-idf and firmware-samples/arduino cannot be built here (no ESP-IDF, no Arduino
// core), so this compiles them with the host compilers against stub headers of the SDK functions
// they call (test/firmware/stubs/, declarations only, with the SDKs' signatures) and the real edge
// library in firmware-samples/c: a change of the library's API that the examples do not follow
// fails here. Each check also compiles a copy with one library call renamed, which must fail, so a
// check that silently compiles nothing cannot pass.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
const root = path.resolve('.');
const lib = path.join(root, 'firmware-samples/c');
const espIdf = path.join(root, 'firmware-samples/esp-idf');
const arduino = path.join(root, 'firmware-samples/arduino');
const stubs = path.join(root, 'test/firmware/stubs');

const C_FLAGS = ['-std=c99', '-Wall', '-Wextra', '-Werror'];
const CXX_FLAGS = ['-std=gnu++11', '-Wall', '-Wextra', '-Werror'];

/** Runs a compiler; resolves its exit code and diagnostics (never rejects on a compile error). */
async function compile(command: string, args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(command, args, { timeout: 120_000 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stderr?: string };
    if (typeof e.code === 'string') throw err; // ENOENT: no compiler
    return { code: e.code ?? 1, stderr: e.stderr ?? String(err) };
  }
}

/** sdkconfig.h as ESP-IDF generates it, from the defaults of main/Kconfig.projbuild. */
function sdkconfigFromKconfig(kconfig: string): string {
  const out: string[] = [];
  let name: string | null = null;
  let type: string | null = null;
  for (const line of kconfig.split('\n')) {
    const t = line.trim();
    let m: RegExpExecArray | null;
    if ((m = /^config (\w+)$/.exec(t))) [name, type] = [m[1], null];
    else if ((m = /^(string|int|bool|hex)\b/.exec(t)) && name !== null) type = m[1];
    else if ((m = /^default (.+)$/.exec(t)) && name !== null) {
      if (type === 'bool') {
        if (m[1] === 'y') out.push(`#define CONFIG_${name} 1`);
      } else out.push(`#define CONFIG_${name} ${m[1]}`);
      name = null;
    }
  }
  return `${out.join('\n')}\n`;
}

/** The source files of an idf_component_register(SRCS ...) in main/CMakeLists.txt, resolved. */
function componentSources(): string[] {
  const cmake = fs.readFileSync(path.join(espIdf, 'main/CMakeLists.txt'), 'utf8');
  const teDir = /set\(TE_DIR ([^)\s]+)\)/.exec(cmake)?.[1];
  expect(teDir, 'main/CMakeLists.txt: set(TE_DIR ...)').toBeDefined();
  const srcs = /SRCS([\s\S]*?)INCLUDE_DIRS/.exec(cmake)?.[1] ?? '';
  return [...srcs.matchAll(/"([^"]+)"/g)].map((m) => path.resolve(espIdf, 'main', m[1].replace('${TE_DIR}', teDir ?? '')));
}

describe('firmware-samples/esp-idf against the edge library (stub ESP-IDF headers)', () => {
  const include = (gen: string) => ['-I', gen, '-I', path.join(stubs, 'esp-idf'), '-I', path.join(espIdf, 'main'), '-I', path.join(lib, 'include'), '-I', path.join(lib, 'port')];

  function generated(): string {
    const dir = tempDir('tributary-espidf-');
    fs.writeFileSync(path.join(dir, 'sdkconfig.h'), sdkconfigFromKconfig(fs.readFileSync(path.join(espIdf, 'main/Kconfig.projbuild'), 'utf8')));
    return dir;
  }

  it('main.c and the port compile with gcc -std=c99 -Wall -Wextra -Werror, with the Kconfig defaults as sdkconfig.h', async () => {
    const gen = generated();
    expect(fs.readFileSync(path.join(gen, 'sdkconfig.h'), 'utf8')).toContain('#define CONFIG_TRIBUTARY_BROKER_PORT 7883');
    for (const file of ['main.c', 'te_port_esp.c']) {
      const r = await compile('gcc', [...C_FLAGS, '-fsyntax-only', ...include(gen), path.join(espIdf, 'main', file)]);
      expect(r.stderr, file).toBe('');
      expect(r.code, file).toBe(0);
    }
  });

  it('the library sources main/CMakeLists.txt registers exist and define every te_ function main.c and the port call', async () => {
    const gen = generated();
    const out = tempDir('tributary-espidf-obj-');
    const sources = componentSources();
    expect(sources.map((s) => path.basename(s))).toEqual(expect.arrayContaining(['main.c', 'te_port_esp.c', 'te_client.c', 'te_ring.c']));
    const objects: string[] = [];
    for (const src of sources) {
      expect(fs.existsSync(src), src).toBe(true);
      const obj = path.join(out, `${path.basename(src)}.o`);
      const r = await compile('gcc', [...C_FLAGS, '-c', ...include(gen), src, '-o', obj]);
      expect(r.stderr, src).toBe('');
      objects.push(obj);
    }
    const { stdout: undef } = await run('nm', ['-u', objects[0], objects[1]]);
    const { stdout: defined } = await run('nm', ['--defined-only', ...objects]);
    const used = new Set([...undef.matchAll(/\bU (te_\w+)/g)].map((m) => m[1]));
    const have = new Set([...defined.matchAll(/ T (te_\w+)/g)].map((m) => m[1]));
    expect(used.size).toBeGreaterThan(5);
    expect([...used].filter((s) => !have.has(s))).toEqual([]);
  });

  it('a library call the library does not have fails the check', async () => {
    const gen = generated();
    const copy = path.join(gen, 'main.c');
    const main = fs.readFileSync(path.join(espIdf, 'main/main.c'), 'utf8');
    expect(main).toContain('te_ring_service(');
    fs.writeFileSync(copy, main.replace('te_ring_service(', 'te_ring_service_gone('));
    const r = await compile('gcc', [...C_FLAGS, '-fsyntax-only', ...include(gen), copy]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/te_ring_service_gone/);
  });
});

describe('firmware-samples/arduino against the edge library (stub Arduino headers)', () => {
  /** The sketch folder with the library copied into src/, as README.md step 2a says. */
  function sketchWithLibrary(): string {
    const dir = path.join(tempDir('tributary-arduino-'), 'TributarySensor');
    fs.cpSync(path.join(arduino, 'TributarySensor'), dir, { recursive: true });
    fs.mkdirSync(path.join(dir, 'src'));
    const files = [path.join(lib, 'include/tributary_edge.h'), path.join(lib, 'port/tributary_port.h')];
    for (const f of fs.readdirSync(path.join(lib, 'src'))) if (f.endsWith('.c')) files.push(path.join(lib, 'src', f));
    for (const f of files) fs.copyFileSync(f, path.join(dir, 'src', path.basename(f)));
    return dir;
  }

  const gxx = (dir: string, file: string, extra: string[] = []) =>
    compile('g++', [...CXX_FLAGS, '-fsyntax-only', '-x', 'c++', '-I', path.join(stubs, 'arduino'), ...extra, path.join(dir, file)]);

  it('the sketch (RAM only and with Preferences storage) and the Client port compile with g++ -std=gnu++11 -Wall -Wextra -Werror, the library in the sketch\'s src/', async () => {
    const dir = sketchWithLibrary();
    for (const [file, extra] of [
      ['TributarySensor.ino', []],
      ['TributarySensor.ino', ['-DTRIBUTARY_STORE_PREFERENCES']],
      ['TributaryArduinoPort.cpp', []],
    ] as const) {
      const r = await gxx(dir, file, [...extra]);
      expect(r.stderr, `${file} ${extra.join(' ')}`).toBe('');
      expect(r.code).toBe(0);
    }
  });

  it('the library\'s own sources compile as the Arduino builder compiles .c files (gcc, C, -Wall -Wextra -Werror)', async () => {
    const dir = sketchWithLibrary();
    for (const f of fs.readdirSync(path.join(dir, 'src')).filter((n) => n.endsWith('.c'))) {
      const r = await compile('gcc', ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-fsyntax-only', path.join(dir, 'src', f)]);
      expect(r.stderr, f).toBe('');
    }
  });

  it('the sketch also compiles with the library installed as an Arduino library (README.md step 2b)', async () => {
    const dir = path.join(tempDir('tributary-arduino-'), 'TributarySensor');
    fs.cpSync(path.join(arduino, 'TributarySensor'), dir, { recursive: true });
    const r = await gxx(dir, 'TributarySensor.ino', ['-I', path.join(lib, 'include'), '-I', path.join(lib, 'port')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('a library call the library does not have fails the check', async () => {
    const dir = sketchWithLibrary();
    const sketch = fs.readFileSync(path.join(dir, 'TributarySensor.ino'), 'utf8');
    expect(sketch).toContain('te_ring_service(');
    fs.writeFileSync(path.join(dir, 'TributarySensor.ino'), sketch.replace('te_ring_service(', 'te_ring_service_gone('));
    const r = await gxx(dir, 'TributarySensor.ino');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/te_ring_service_gone/);
  });
});
