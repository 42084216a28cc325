/**
 * Certificates made and read by openssl itself, so that tests check the
 * gateway and the keyvault against a tool no one here wrote: a throwaway
 * CA, leaves it issues, and the tls-alpn-01 extension as openssl dumps it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { run } from './clients.js';

export interface OpensslCa {
  cert: string;
  key: string;
}

/** A throwaway P-256 CA in `dir`, valid 30 days. */
export async function opensslCa(dir: string): Promise<OpensslCa> {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, 'ca.key');
  const cert = path.join(dir, 'ca.pem');
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '30',
    '-subj',
    '/CN=Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  ]);
  return { cert, key };
}

/**
 * A leaf for `name` from `ca`, valid `days` from now (negative: one that
 * expired in 2020), with its chain and its SEC1 key as PEM, and its serial
 * in uppercase hex as Node's getPeerCertificate reports it.
 */
export async function opensslLeaf(
  dir: string,
  ca: OpensslCa,
  name: string,
  days: number,
): Promise<{ chainPem: string; keyPem: string; serial: string }> {
  const stem = path.join(dir, `${name}-${days}`);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${stem}.key`]);
  await openssl([
    'req',
    '-new',
    '-key',
    `${stem}.key`,
    '-subj',
    `/CN=${name}`,
    '-out',
    `${stem}.csr`,
  ]);
  // openssl ca can date a certificate in the past; x509 -req cannot.
  fs.writeFileSync(`${stem}.db`, '');
  const settings = [
    '[ca]',
    'default_ca = test',
    '[test]',
    `database = ${stem}.db`,
    `new_certs_dir = ${dir}`,
    'default_md = sha256',
    'policy = any',
    'rand_serial = yes',
    'unique_subject = no',
    'x509_extensions = leaf',
    '[any]',
    'commonName = supplied',
    '[leaf]',
    `subjectAltName = DNS:${name}`,
  ];
  fs.writeFileSync(`${stem}.cnf`, settings.join('\n') + '\n');
  const dates =
    days < 0
      ? ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']
      : ['-days', String(days)];
  await openssl([
    'ca',
    '-batch',
    '-config',
    `${stem}.cnf`,
    '-cert',
    ca.cert,
    '-keyfile',
    ca.key,
    '-in',
    `${stem}.csr`,
    '-out',
    `${stem}.pem`,
    '-notext',
    ...dates,
  ]);
  const serial = await openssl(['x509', '-in', `${stem}.pem`, '-noout', '-serial']);
  return {
    chainPem: fs.readFileSync(`${stem}.pem`, 'utf8') + fs.readFileSync(ca.cert, 'utf8'),
    keyPem: fs.readFileSync(`${stem}.key`, 'utf8'),
    serial: (serial.split('=')[1] ?? '').trim().toUpperCase(),
  };
}

/**
 * The value of a certificate's tls-alpn-01 acmeIdentifier extension
 * (1.3.6.1.5.5.7.1.31, RFC 8737 section 3) as hex, read by openssl, or
 * undefined when it has none or it is not critical. openssl does not know
 * the extension, so `-certopt ext_dump` prints its bytes.
 */
export async function acmeIdentifierHex(certificatePem: string): Promise<string | undefined> {
  const text = await openssl(['x509', '-noout', '-text', '-certopt', 'ext_dump'], certificatePem);
  const dump = /1\.3\.6\.1\.5\.5\.7\.1\.31: critical\n((?:\s+[0-9a-f]{4} - .*\n)+)/.exec(text);
  if (!dump?.[1]) return undefined;
  return [...dump[1].matchAll(/^\s+[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -])+)/gm)]
    .map((line) => (line[1] ?? '').replace(/[^0-9a-f]/g, ''))
    .join('');
}

async function openssl(args: string[], input?: string): Promise<string> {
  const result = await run('openssl', args, input === undefined ? {} : { input });
  if (result.code !== 0) {
    throw new Error(`openssl ${args[0] ?? ''} failed (exit ${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}
