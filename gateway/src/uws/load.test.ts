/**
 * Tests for the uWS.js loader and the ELF patcher it relies on: uWS loads on
 * this machine, an SSLApp serves curl over TLS on loopback, and the patcher
 * refuses damaged files without writing and is idempotent.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import type * as UwsTypes from '@btc-vision/uwebsockets.js';

import {
  ElfPatchError,
  VER_FLG_WEAK,
  weakenVersionRequirement,
  weakenVersionRequirementInFile,
} from './elf-weaken.js';
import { glibcVersion, loadUws, UWS_GLIBC_VERSION } from './load.js';

const run = promisify(execFile);
const linuxOnly =
  process.platform === 'linux' ? {} : { skip: 'uWS ships ELF binaries only for Linux' };

let tmp = '';
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-uws-test-'));
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function shippedBinary(): string {
  const dir = path.dirname(createRequire(import.meta.url).resolve('@btc-vision/uwebsockets.js'));
  return path.join(dir, `uws_linux_${process.arch}_${process.versions.modules}.node`);
}

void describe('loadUws', () => {
  void test('loads the binary and exposes adoptSocket', () => {
    const uws = loadUws();
    assert.equal(loadUws(), uws, 'a second call returns the same module');
    assert.equal(typeof uws.SSLApp, 'function');
    const app = uws.App();
    assert.equal(typeof app.adoptSocket, 'function');
    app.close();
  });

  void test('reports the runtime glibc version', () => {
    const version = glibcVersion();
    assert.ok(version !== undefined, 'this test machine runs glibc');
    assert.ok(version[0] === 2 && version[1] > 20, `implausible glibc ${version.join('.')}`);
  });

  void test('an SSLApp serves curl over TLS on loopback', async () => {
    const key = path.join(tmp, 'key.pem');
    const cert = path.join(tmp, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]); // prettier-ignore

    const uws = loadUws();
    const app = uws.SSLApp({ key_file_name: key, cert_file_name: cert });
    app.get('/hello', (res) => {
      res.end('hello over uWS');
    });
    // Port 0 and uWS's own listen are fine here: this is a unit test of the
    // loader, not the gateway's listening socket.
    const listenSocket = await new Promise<UwsTypes.us_listen_socket>((resolve, reject) => {
      app.listen('127.0.0.1', 0, (socket) => {
        if (socket === false) reject(new Error('uWS could not listen on 127.0.0.1:0'));
        else resolve(socket);
      });
    });
    try {
      const port = uws.us_socket_local_port(listenSocket);
      assert.ok(port > 0);
      const { stdout } = await run('curl', [
        '-sS', '-k', '--max-time', '10', `https://127.0.0.1:${port}/hello`,
      ]); // prettier-ignore
      assert.equal(stdout, 'hello over uWS');
    } finally {
      uws.us_listen_socket_close(listenSocket);
      app.close();
    }
  });
});

void describe('weakenVersionRequirement', () => {
  void test(
    'marks only the GLIBC_2.38 requirement weak, and is idempotent',
    linuxOnly,
    async () => {
      const original = readFileSync(shippedBinary());
      const once = Buffer.from(original);
      const first = weakenVersionRequirement(once, UWS_GLIBC_VERSION);
      assert.deepEqual(first, { matched: 1, changed: 1 });

      const changedBytes = [...once.keys()].filter((i) => once[i] !== original[i]);
      assert.equal(changedBytes.length, 1, 'one byte of vna_flags changes');
      const at = changedBytes[0] ?? -1;
      assert.equal((once[at] ?? 0) ^ (original[at] ?? 0), VER_FLG_WEAK);

      const twice = Buffer.from(once);
      assert.deepEqual(weakenVersionRequirement(twice, UWS_GLIBC_VERSION), {
        matched: 1,
        changed: 0,
      });
      assert.ok(twice.equals(once), 'a second patch changes nothing');

      // binutils reads the result independently of our parser.
      const file = path.join(tmp, 'weak.node');
      writeFileSync(file, once);
      const { stdout } = await run('readelf', ['-V', '--wide', file]);
      assert.match(stdout, /Name: GLIBC_2\.38\s+Flags: WEAK/);
      assert.match(stdout, /Name: GLIBC_2\.36\s+Flags: none/);
    },
  );

  void test('the file variant is idempotent', linuxOnly, () => {
    const first = path.join(tmp, 'first.node');
    const second = path.join(tmp, 'second.node');
    assert.equal(
      weakenVersionRequirementInFile(shippedBinary(), first, UWS_GLIBC_VERSION).changed,
      1,
    );
    assert.equal(weakenVersionRequirementInFile(first, second, UWS_GLIBC_VERSION).changed, 0);
    assert.ok(readFileSync(first).equals(readFileSync(second)));
  });

  const corruptions: [string, (image: Buffer) => Buffer, string][] = [
    ['bad magic', (b) => (b.write('MZ', 0), b), 'ELF_NOT_ELF64LE'],
    ['big-endian flag', (b) => (b.writeUInt8(2, 5), b), 'ELF_NOT_ELF64LE'],
    ['truncated to half', (b) => b.subarray(0, b.length >> 1), 'ELF_BAD_SECTIONS'],
    ['section table offset past the end', (b) => (b.writeBigUInt64LE(1n << 40n, 0x28), b), 'ELF_BAD_SECTIONS'],
    ['verneed aux offset out of its section', corruptVerneedAux, 'ELF_BAD_VERNEED'],
  ]; // prettier-ignore

  for (const [what, corrupt, code] of corruptions) {
    void test(
      `a copy with ${what} is refused with ${code} and nothing is written`,
      linuxOnly,
      () => {
        const damaged = path.join(tmp, `damaged-${code}.node`);
        const before = corrupt(Buffer.from(readFileSync(shippedBinary())));
        writeFileSync(damaged, before);
        const destination = path.join(tmp, `out-${code}.node`);

        assert.throws(
          () => weakenVersionRequirementInFile(damaged, destination, UWS_GLIBC_VERSION),
          (error: unknown) =>
            error instanceof ElfPatchError && error.code === code && error.message.length > 10,
        );
        assert.equal(existsSync(destination), false, 'no output file');

        // In place: the damaged file keeps every byte.
        assert.throws(() => weakenVersionRequirementInFile(damaged, damaged, UWS_GLIBC_VERSION));
        assert.ok(readFileSync(damaged).equals(before));
      },
    );
  }

  void test('a file without the requirement is refused without writing', () => {
    const compat = path.join(tmp, 'compat.node');
    const built = new URL(
      '../../native/build/Release/gatehouse_glibc_compat.node',
      import.meta.url,
    );
    copyFileSync(built, compat);
    const destination = path.join(tmp, 'compat-out.node');
    assert.throws(
      () => weakenVersionRequirementInFile(compat, destination, UWS_GLIBC_VERSION),
      /does not require GLIBC_2\.38/,
    );
    assert.equal(existsSync(destination), false);
  });
});

/** Point the first Verneed entry's vn_aux far outside .gnu.version_r. */
function corruptVerneedAux(image: Buffer): Buffer {
  const shoff = Number(image.readBigUInt64LE(0x28));
  const shnum = image.readUInt16LE(0x3c);
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    if (image.readUInt32LE(at + 4) === 0x6ffffffe) {
      const offset = Number(image.readBigUInt64LE(at + 24));
      image.writeUInt32LE(0x7fff0000, offset + 8);
      return image;
    }
  }
  throw new Error('test setup: no SHT_GNU_verneed section in the shipped binary');
}
