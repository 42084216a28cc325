/**
 * How many tls-alpn-01 challenge certificates one process makes per second,
 * raw (no IPC): with a key made beforehand, and with a fresh P-256 key per
 * certificate as the keyvault will do. WebCrypto runs its jobs on libuv's
 * thread pool, so the rate per CPU-second (all threads) is the one-core
 * figure; run with UV_THREADPOOL_SIZE=1 to keep it to one core in wall time.
 *
 *   node keyvault/dist/x509/challenge-certificate.bench.js [seconds] [in-flight]
 *
 * Each run stops by itself after the given seconds (default 3) or 100,000
 * certificates, whichever comes first.
 */
import { randomBytes } from 'node:crypto';
import { generateKeyPair } from '../keys.js';
import { createChallengeCertificate } from './challenge-certificate.js';
import { type SigningKeyPair } from './engine.js';

const MAX_CERTIFICATES = 100_000;

interface Rate {
  readonly label: string;
  readonly count: number;
  readonly perWallSecond: number;
  readonly perCpuSecond: number;
}

async function measure(
  label: string,
  seconds: number,
  inFlight: number,
  makeKey: () => Promise<SigningKeyPair>,
): Promise<Rate> {
  const authorization = `${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const cpu = process.cpuUsage();
  let count = 0;

  async function worker(): Promise<void> {
    while (performance.now() < deadline && count < MAX_CERTIFICATES) {
      count++;
      const key = await makeKey();
      await createChallengeCertificate({ type: 'dns', value: 'example.com' }, authorization, key);
    }
  }
  await Promise.all(Array.from({ length: inFlight }, worker));

  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { label, count, perWallSecond: count / wall, perCpuSecond: count / cpuSeconds };
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3);
  const inFlight = Number(process.argv[3] ?? 1);
  const fixed = await generateKeyPair('ec-p256');

  // A short warm-up so the JIT and the thread pool are ready.
  await measure('warm-up', 0.5, inFlight, () => Promise.resolve(fixed));

  const rates = [
    await measure('certificate, key made beforehand', seconds, inFlight, () =>
      Promise.resolve(fixed),
    ),
    await measure('fresh P-256 key + certificate', seconds, inFlight, () =>
      generateKeyPair('ec-p256'),
    ),
  ];
  const threads = process.env.UV_THREADPOOL_SIZE ?? '4 (default)';
  console.log(`node ${process.version}, ${inFlight} in flight, UV_THREADPOOL_SIZE=${threads}`);
  for (const rate of rates) {
    console.log(
      `${rate.label}: ${rate.count} in ${seconds}s, ` +
        `${rate.perWallSecond.toFixed(0)}/s wall, ${rate.perCpuSecond.toFixed(0)}/s per CPU-second`,
    );
  }
}

await main();
