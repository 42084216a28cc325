#!/usr/bin/env node
/**
 * The `gatehouse` command: `run` starts the supervisor in the foreground;
 * every other command talks to a running Gatehouse over its control socket,
 * so that anything the console does can be scripted.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCommand } from './run.js';
import { caRootCommand } from './ca.js';
import { rotateMasterKeyCommand } from './vault.js';
import { statusCommand } from './status.js';
import {
  deleteCertificateCommand,
  importCertificateCommand,
  listCertificatesCommand,
} from './certificates.js';
import { AcmeUsageError, acmeCommand, revokeCertificateCommand } from './acme.js';
import { addDomainCommand, listDomainsCommand, removeDomainCommand } from './domains.js';

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  run       Start Gatehouse in the foreground (supervisor, keyvault, acme-agent, workers)
  status    Show the state of each process of a running Gatehouse
  ca root   Print the local CA's root certificate (PEM), for clients to trust
  domains add NAME
            Add a DNS name (or *.wildcard) or IP address for Gatehouse to certify
  domains remove NAME
            Remove a domain (its certificates stay in the vault)
  domains list [--json]
            The domains in state.db, with when each was added
  certificates list [--json]
            The certificates in the vault: id, names, expiry, issuer
  certificates import --chain FILE --key FILE
            Store a certificate chain (PEM, leaf first) and its unencrypted private key
  certificates delete ID
            Delete a certificate (and its key, when nothing else uses it)
  certificates revoke ID [--reason NAME]
            Revoke a certificate at its CA (unspecified, keyCompromise, affiliationChanged,
            superseded, cessationOfOperation); Gatehouse then obtains a new one
  acme account [--json]
            The ACME account at the CA: URL, status, contacts, key thumbprint
  acme account update --email ADDR
            Replace the account's contact address at the CA
  acme account key-change
            Give the account a new key; the old one stays in use if the CA refuses
  acme account deactivate --yes
            Deactivate the account at the CA, for good
  vault rotate-master-key
            Re-seal every key under a new <data>/master.key (back it up afterwards)
  help      Show this help

Options of run:
  --data DIR          Data directory (env GATEHOUSE_DATA; default ./data)
  --https-port N      HTTPS port (default 443 as root, 8443 otherwise)
  --http-port N       HTTP port (default 80 as root, 8080 otherwise)
  --bind ADDR         Address to listen on; repeat for several (default 0.0.0.0 and ::)
  --workers N         Gateway worker processes (default: number of cores)
  --log-level LEVEL   debug, info, warn or error (default info)
  --control-mode MODE File mode of <data>/control.sock (default 600)
  --hello-timeout S   Seconds a client has to send its TLS ClientHello (default 10)
  --acme-directory URL
                      ACME CA directory, or letsencrypt / letsencrypt-staging (default letsencrypt)
  --acme-trust FILE   Extra root (PEM) to trust for the CA's own HTTPS, e.g. a test CA's
  --acme-email ADDR   Contact address for the ACME account
  --acme-challenge T  Challenge types to answer, in order: tls-alpn-01,http-01 (the default)
                      or dns-01 too, with a DNS provider
  --acme-dns-rfc2136 FILE
                      JSON settings (server, TSIG key) of an RFC 2136 DNS server for dns-01,
                      which wildcards need; mode 600
  --acme-issuers FILE
                      JSON list of CAs to try in order, with EAB, preferred chain, profile and
                      caps (see README); replaces --acme-directory, --acme-trust, --acme-email

Options of status:
  --data DIR          Data directory of the running Gatehouse (env GATEHOUSE_DATA; default ./data)
  --json              Print JSON instead of a table

Options of ca, domains, certificates, acme and vault:
  --data DIR          Data directory of the running Gatehouse (env GATEHOUSE_DATA; default ./data)
  --issuer URL        acme and certificates revoke: the CA's directory URL (default --acme-directory)
`;

function dataDirOf(flag: string | undefined): string {
  return path.resolve(flag ?? process.env.GATEHOUSE_DATA ?? './data');
}

export class UsageError extends Error {
  readonly code = 'usage';
}

const CERTIFICATES_USAGE =
  'Usage: gatehouse certificates list [--json] | import --chain FILE --key FILE | delete ID | ' +
  'revoke ID [--reason NAME] [--issuer URL] [--data DIR]';

function certificatesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      data: { type: 'string' },
      json: { type: 'boolean' },
      chain: { type: 'string' },
      key: { type: 'string' },
      reason: { type: 'string' },
      issuer: { type: 'string' },
    },
  });
  const [action, ...operands] = positionals;
  const dataDir = dataDirOf(values.data);
  const onlyFor = (wanted: string, given: boolean): void => {
    if (given && action !== wanted) throw new UsageError(CERTIFICATES_USAGE);
  };
  onlyFor('list', values.json !== undefined);
  onlyFor('import', values.chain !== undefined || values.key !== undefined);
  onlyFor('revoke', values.reason !== undefined || values.issuer !== undefined);
  if (action === 'list' && operands.length === 0) {
    return listCertificatesCommand(dataDir, values.json ?? false);
  }
  if (action === 'import' && operands.length === 0) {
    if (values.chain === undefined || values.key === undefined) {
      throw new UsageError(
        'gatehouse certificates import needs --chain FILE (PEM, leaf first) and --key FILE (PEM).',
      );
    }
    return importCertificateCommand(dataDir, values.chain, values.key);
  }
  const [id] = operands;
  if (action === 'delete' && id !== undefined && operands.length === 1) {
    return deleteCertificateCommand(dataDir, id);
  }
  if (action === 'revoke' && id !== undefined && operands.length === 1) {
    return revokeCertificateCommand(dataDir, id, values.reason, values.issuer);
  }
  throw new UsageError(CERTIFICATES_USAGE);
}

const DOMAINS_USAGE =
  'Usage: gatehouse domains add NAME | remove NAME | list [--json] [--data DIR]';

function domainsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { data: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [action, ...operands] = positionals;
  const dataDir = dataDirOf(values.data);
  if (values.json !== undefined && action !== 'list') throw new UsageError(DOMAINS_USAGE);
  if (action === 'list' && operands.length === 0) {
    return listDomainsCommand(dataDir, values.json ?? false);
  }
  const [name] = operands;
  if (name !== undefined && operands.length === 1) {
    if (action === 'add') return addDomainCommand(dataDir, name);
    if (action === 'remove') return removeDomainCommand(dataDir, name);
  }
  throw new UsageError(DOMAINS_USAGE);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: {
          data: { type: 'string' },
          'https-port': { type: 'string' },
          'http-port': { type: 'string' },
          bind: { type: 'string', multiple: true },
          workers: { type: 'string' },
          'log-level': { type: 'string' },
          'control-mode': { type: 'string' },
          'hello-timeout': { type: 'string' },
          'acme-directory': { type: 'string' },
          'acme-trust': { type: 'string' },
          'acme-email': { type: 'string' },
          'acme-challenge': { type: 'string' },
          'acme-dns-rfc2136': { type: 'string' },
          'acme-issuers': { type: 'string' },
        },
      });
      return runCommand(values);
    }
    case 'status': {
      const { values } = parseArgs({
        args: rest,
        strict: true,
        options: { data: { type: 'string' }, json: { type: 'boolean' } },
      });
      return statusCommand(dataDirOf(values.data), values.json ?? false);
    }
    case 'ca': {
      const { values, positionals } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: true,
        options: { data: { type: 'string' } },
      });
      if (positionals.length !== 1 || positionals[0] !== 'root') {
        throw new UsageError('Usage: gatehouse ca root [--data DIR]');
      }
      return caRootCommand(dataDirOf(values.data));
    }
    case 'domains':
      return domainsCommand(rest);
    case 'certificates':
      return certificatesCommand(rest);
    case 'acme':
      return acmeCommand(rest, dataDirOf);
    case 'vault': {
      const { values, positionals } = parseArgs({
        args: rest,
        strict: true,
        allowPositionals: true,
        options: { data: { type: 'string' } },
      });
      if (positionals.length !== 1 || positionals[0] !== 'rotate-master-key') {
        throw new UsageError('Usage: gatehouse vault rotate-master-key [--data DIR]');
      }
      return rotateMasterKeyCommand(dataDirOf(values.data));
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`Unknown command "${command}". Run "gatehouse help" for the list.`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`gatehouse: ${message}\n`);
    const usage =
      error instanceof UsageError ||
      error instanceof AcmeUsageError ||
      (error instanceof Error &&
        (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'));
    process.exitCode = usage ? 2 : 1;
  },
);
