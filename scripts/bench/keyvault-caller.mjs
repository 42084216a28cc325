// A child for scripts/bench-keyvault: started by the supervisor as the
// acme-agent (or as a worker), it asks the keyvault as fast as it can for
// a bounded time, through the supervisor as every real request goes, and
// writes the rates to $BENCH_REPORT. Not a test; not part of Gatehouse.
import fs from 'node:fs';
import { IpcError, startChild } from '../../gateway/dist/ipc/index.js';

const role = process.env.BENCH_ROLE === 'worker' ? 'worker' : 'acme-agent';
const seconds = Number(process.env.BENCH_SECONDS ?? '5');
const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? '16');
const runtime = startChild(role);
const ask = (type, payload) => runtime.channel.request(type, payload, 30_000);

async function untilKeyvault(type, payload) {
  for (;;) {
    try {
      return await ask(type, payload);
    } catch (error) {
      if (!(error instanceof IpcError) || error.code !== 'unavailable') throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Requests per second with `inFlight` outstanding, for `seconds` after 1 s of warm-up. */
async function rate(makeRequest) {
  let counting = false;
  let done = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      await makeRequest();
      if (counting) done += 1;
    }
  };
  const loops = Array.from({ length: inFlight }, loop);
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  counting = true;
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  counting = false;
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  stop = true;
  await Promise.all(loops);
  return Math.round(done / elapsed);
}

const report = {};
if (role === 'acme-agent') {
  const account = await untilKeyvault('keyvault.account-key', {
    directoryUrl: 'https://ca.bench/dir',
  });
  let n = 0;
  report.es256JwsPerSecond = await rate(() =>
    ask('keyvault.sign-jws', {
      keyId: account.keyId,
      url: 'https://ca.bench/new-order',
      nonce: `bm9uY2U${(n += 1)}`,
      kid: 'https://ca.bench/acct/1',
      payload: { identifiers: [{ type: 'dns', value: 'bench.example' }] },
    }),
  );
  report.challengeCertificatesPerSecond = await rate(() =>
    ask('keyvault.challenge-certificate', {
      identifier: { type: 'dns', value: `c${(n += 1) % 1000}.bench.example` },
      keyAuthorization: `evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.${account.thumbprint}`,
    }),
  );
  report.p256CsrsPerSecond = await rate(() =>
    ask('keyvault.csr', {
      identifiers: [{ type: 'dns', value: 'bench.example' }],
      key: { algorithm: 'ec-p256' },
    }),
  );
} else {
  await untilKeyvault('keyvault.bundle', { identifier: { type: 'dns', value: 'localhost' } });
  report.bundleReadsPerSecond = await rate(() =>
    ask('keyvault.bundle', { identifier: { type: 'dns', value: 'localhost' } }),
  );
}
fs.writeFileSync(process.env.BENCH_REPORT, JSON.stringify(report));
runtime.ready();
