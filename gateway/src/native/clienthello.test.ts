/**
 * Runs the ClientHello fixture table through the acceptor addon's
 * `parseClientHello`: the same files and expectations that
 * scripts/test-clienthello-table checks against the C parser directly,
 * so this proves the binding hands bytes in and status, server name, ALPN
 * list, `need` and reason out unchanged. Fixtures are real hellos captured
 * from openssl, curl, Chromium and Node, and hostile ones made by
 * gateway/native/test/make-malformed.mjs.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { loadAcceptorAddon, type ParsedClientHello, type ParseStatus } from './addon.js';

// gateway/dist/native/ -> gateway/native/test/fixtures/clienthello
const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(here, '../../native/test/fixtures/clienthello');

// From gateway/native/src/clienthello.h.
const CH_MAX_ALPN = 16;
const CH_MAX_WIRE = 16384 + 5 * 8;

const STATUSES: readonly ParseStatus[] = ['ok', 'need_more', 'not_tls', 'malformed', 'too_large'];

interface Fixture {
  file: string;
  origin: 'captured' | 'generated';
  client: string;
  status: ParseStatus;
  sni?: string | null;
  alpn?: string[];
  need?: number;
  error?: string;
}

class ManifestError extends Error {
  override name = 'ManifestError';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read manifest.json and check each entry's shape, so a typo fails loudly. */
function readManifest(): Fixture[] {
  const raw: unknown = JSON.parse(readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8'));
  if (!isRecord(raw) || !Array.isArray(raw.fixtures)) {
    throw new ManifestError('manifest.json must be { "fixtures": [...] }');
  }
  return raw.fixtures.map((entry: unknown, i): Fixture => {
    const where = `manifest.json fixture ${i}`;
    if (!isRecord(entry)) throw new ManifestError(`${where} is not an object`);
    const { file, origin, client, status, sni, alpn, need, error } = entry;
    if (typeof file !== 'string' || typeof client !== 'string') {
      throw new ManifestError(`${where}: file and client must be strings`);
    }
    if (origin !== 'captured' && origin !== 'generated') {
      throw new ManifestError(`${where} (${file}): origin must be captured or generated`);
    }
    const known = STATUSES.find((s) => s === status);
    if (known === undefined) throw new ManifestError(`${where} (${file}): unknown status`);
    const fixture: Fixture = { file, origin, client, status: known };
    if (known === 'ok') {
      if (!(sni === null || typeof sni === 'string')) {
        throw new ManifestError(`${where} (${file}): sni must be a string or null`);
      }
      if (!Array.isArray(alpn) || !alpn.every((a): a is string => typeof a === 'string')) {
        throw new ManifestError(`${where} (${file}): alpn must be a list of strings`);
      }
      fixture.sni = sni;
      fixture.alpn = alpn;
    } else if (known === 'need_more') {
      if (typeof need !== 'number') throw new ManifestError(`${where} (${file}): need missing`);
      fixture.need = need;
    } else {
      if (typeof error !== 'string') throw new ManifestError(`${where} (${file}): error missing`);
      fixture.error = error;
    }
    return fixture;
  });
}

const fixtures = readManifest();
const readFixture = (f: Fixture): Buffer => readFileSync(path.join(FIXTURES, f.file));

function parse(bytes: Uint8Array): ParsedClientHello {
  return loadAcceptorAddon().parseClientHello(bytes);
}

function expectedAlpn(offered: string[]): string[] {
  const kept = offered.slice(0, CH_MAX_ALPN);
  const acmeLater = !kept.includes('acme-tls/1') && offered.includes('acme-tls/1');
  return acmeLater ? [...kept, 'acme-tls/1'] : kept;
}

/** Compare one answer with the manifest; the message names the fixture. */
function assertExpected(f: Fixture, got: ParsedClientHello): void {
  const label = `${f.file} (${f.client})`;
  assert.equal(got.status, f.status, `${label}: status (reason: ${got.error ?? 'none'})`);
  switch (f.status) {
    case 'ok':
      assert.equal(got.sni, f.sni ?? undefined, `${label}: server name`);
      // The parser keeps the first CH_MAX_ALPN names; acme-tls/1 offered
      // past them is still reported, so no challenge is missed.
      assert.deepEqual(got.alpn, expectedAlpn(f.alpn ?? []), `${label}: ALPN`);
      assert.equal(got.error, undefined, `${label}: no reason on ok`);
      break;
    case 'need_more':
      assert.equal(got.need, f.need, `${label}: need`);
      break;
    default:
      assert.equal(got.error, f.error, `${label}: reason`);
  }
}

void describe('parseClientHello over the fixture table', () => {
  void test('the table holds every captured client and every .bin file', () => {
    const listed = new Set(fixtures.map((f) => f.file));
    const onDisk = readdirSync(FIXTURES).filter((n) => n.endsWith('.bin'));
    assert.deepEqual(
      onDisk.filter((n) => !listed.has(n)),
      [],
      'files missing from manifest.json',
    );
    const clients = fixtures.filter((f) => f.origin === 'captured').map((f) => f.client);
    for (const name of ['openssl', 'curl', 'chromium', 'node']) {
      assert.ok(
        clients.some((c) => c.startsWith(name)),
        `no hello captured from ${name}; run capture-clienthellos.mjs`,
      );
    }
  });

  for (const f of fixtures) {
    void test(`${f.file}: ${f.client} -> ${f.status}`, () => {
      assertExpected(f, parse(readFixture(f)));
    });
  }

  void test('takes a plain Uint8Array as well as a Buffer', () => {
    const f = fixtures.find((x) => x.file === 'chromium.bin');
    assert.ok(f, 'chromium.bin is in the table');
    assertExpected(f, parse(new Uint8Array(readFixture(f))));
  });

  // Every strict prefix of a whole hello must ask for more, and `need`
  // must be exact: the same answer until that many bytes are there, and
  // at that many bytes the parse gets further. Prefixes are subarrays,
  // which also checks that the binding honours byteOffset and length.
  for (const f of fixtures.filter((x) => x.status === 'ok')) {
    void test(`${f.file}: every prefix asks for more, with an exact need`, () => {
      const bytes = readFixture(f);
      const offsetView = parse(bytes.subarray(2));
      assert.notDeepEqual(offsetView, parse(bytes), 'a view must not be read from byte 0');
      let last = parse(bytes.subarray(0, 0));
      for (let p = 0; p < bytes.length; p++) {
        const got = parse(bytes.subarray(0, p));
        if (got.status !== 'need_more') {
          // Only a hello followed by other records decides before its end.
          assert.deepEqual(got, parse(bytes), `${f.file}: prefix ${p} decided early`);
          break;
        }
        const need = got.need ?? 0;
        assert.ok(need > p && need <= CH_MAX_WIRE, `${f.file}: prefix ${p}: need ${need}`);
        const lastNeed = last.need ?? 0;
        if (p < lastNeed) {
          assert.equal(need, lastNeed, `${f.file}: prefix ${p}: need moved before ${lastNeed}`);
        } else {
          assert.ok(need > lastNeed, `${f.file}: prefix ${p}: no progress at need ${lastNeed}`);
        }
        last = got;
      }
    });
  }
});
