/**
 * How many tls-alpn-01 challenge certificates one process makes per second,
 * raw (no IPC, no storage): with a key made beforehand, and with a fresh
 * P-256 key per certificate as the keyvault does. Everything runs on the
 * main thread, so the rate is the one-core figure.
 *
 *   node keyvault/dist/x509/challenge-certificate.bench.js [seconds]
 *
 * Each run stops by itself after the given seconds (default 3) or 100,000
 * certificates, whichever comes first.
 */
import { randomBytes } from 'node:crypto';
import {
  type ChallengeKeyPair,
  createChallengeCertificate,
  newChallengeKeyPair,
} from './challenge-certificate.js';

const MAX_CERTIFICATES = 100_000;

interface Rate {
  readonly label: string;
  readonly count: number;
  readonly perWallSecond: number;
  readonly perCpuSecond: number;
}

function measure(label: string, seconds: number, makeKey: () => ChallengeKeyPair): Rate {
  const authorization = `${randomBytes(32).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const cpu = process.cpuUsage();
  let count = 0;

  while (performance.now() < deadline && count < MAX_CERTIFICATES) {
    count++;
    createChallengeCertificate({ type: 'dns', value: 'example.com' }, authorization, makeKey());
  }

  const wall = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { label, count, perWallSecond: count / wall, perCpuSecond: count / cpuSeconds };
}

function main(): void {
  const seconds = Number(process.argv[2] ?? 3);
  const fixed = newChallengeKeyPair();

  // A short warm-up so the JIT is ready.
  measure('warm-up', 0.5, () => fixed);

  const rates = [
    measure('certificate, key made beforehand', seconds, () => fixed),
    measure('fresh P-256 key + certificate', seconds, newChallengeKeyPair),
  ];
  console.log(`node ${process.version}`);
  for (const rate of rates) {
    console.log(
      `${rate.label}: ${rate.count} in ${seconds}s, ` +
        `${rate.perWallSecond.toFixed(0)}/s wall, ${rate.perCpuSecond.toFixed(0)}/s per CPU-second`,
    );
  }
}

main();
