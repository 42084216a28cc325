/**
 * The ACME challenges pending now, kept by the supervisor and served by
 * every worker. The acme-agent installs a challenge; the supervisor passes
 * it to every running worker and answers only once all of them serve it,
 * since the CA may be told to validate only then (RFC 8555 section 7.5.1)
 * and any worker may get its connection. A worker that (re)starts reads
 * the whole set. The set lives in memory: after a restart of the
 * supervisor, the acme-agent installs what it still needs again. Known
 * gap: nothing expires; a challenge the acme-agent never removes (it died
 * mid-order) stays served until the supervisor restarts.
 */
import { IpcError } from '../ipc/channel.js';
import type { ChallengeSpec } from '../ipc/acme-messages.js';
import {
  requestTimeout,
  type RequestPayload,
  type RequestResult,
  type RequestType,
} from '../ipc/messages.js';
import { NameError, challengeServerName, checkIdentifier } from '../worker/names.js';
import type { Supervisor } from './supervisor.js';

/** More pending challenges than any CA's rate limits allow at once. */
export const MAX_PENDING_CHALLENGES = 10_000;

/** The pending set, one entry per http-01 token and per tls-alpn-01 server name. */
export class PendingChallenges {
  readonly #byKey = new Map<string, ChallengeSpec>();

  /** Add or replace; throws IpcError when the set is full. */
  add(challenge: ChallengeSpec): void {
    const key = keyOf(challenge);
    if (!this.#byKey.has(key) && this.#byKey.size >= MAX_PENDING_CHALLENGES) {
      throw new IpcError(
        'handler_failed',
        `${MAX_PENDING_CHALLENGES} challenges are pending already; remove finished ones first`,
        { reason: 'too_many_challenges' },
      );
    }
    this.#byKey.set(key, challenge);
  }

  remove(challenge: ChallengeSpec): boolean {
    return this.#byKey.delete(keyOf(challenge));
  }

  list(): ChallengeSpec[] {
    return [...this.#byKey.values()];
  }
}

/** Answer the challenge requests of gateway/src/ipc/acme-messages.ts for this supervisor. */
export function answerChallenges(supervisor: Supervisor): PendingChallenges {
  const pending = new PendingChallenges();
  const log = supervisor.log.child('challenges');

  supervisor.answer('supervisor.challenges', function listChallenges() {
    return Promise.resolve({ challenges: pending.list() });
  });

  supervisor.answer('supervisor.challenge-install', async function installChallenge(payload) {
    const challenge = checkChallenge(
      'supervisor.challenge-install',
      (payload as RequestPayload<'supervisor.challenge-install'>).challenge,
    );
    // Kept even if a worker fails below: a worker restarted to recover
    // reads it from the set.
    pending.add(challenge);
    const workers = await everyWorker(
      supervisor,
      'worker.challenge-add',
      { challenge },
      {
        what: `installing the ${describe(challenge)}`,
        noWorker:
          'it stays pending and every worker serves it once it starts; install it again shortly',
      },
    );
    log.info('challenge served by every worker', { ...fieldsOf(challenge), workers });
    return { workers } satisfies RequestResult<'supervisor.challenge-install'>;
  });

  supervisor.answer('supervisor.challenge-remove', async function removeChallenge(payload) {
    const challenge = checkChallenge(
      'supervisor.challenge-remove',
      (payload as RequestPayload<'supervisor.challenge-remove'>).challenge,
    );
    pending.remove(challenge);
    await everyWorker(
      supervisor,
      'worker.challenge-remove',
      { challenge },
      {
        what: `removing the ${describe(challenge)}`,
      },
    );
    log.debug('challenge removed', fieldsOf(challenge));
    return {};
  });

  supervisor.answer('supervisor.certificates-changed', async function certificatesChanged(payload) {
    const { identifiers } = payload as RequestPayload<'supervisor.certificates-changed'>;
    const checked = identifiers.map((identifier) => {
      try {
        return checkIdentifier(identifier, { wildcard: true });
      } catch (error) {
        throw refusal('supervisor.certificates-changed', error);
      }
    });
    const workers = await everyWorker(
      supervisor,
      'worker.certificates-changed',
      { identifiers: checked },
      { what: 'loading the new certificates' },
    );
    log.info('every worker loaded the new certificates', {
      identifiers: checked.map((identifier) => identifier.value),
      workers,
    });
    return {};
  });

  return pending;
}

type WorkerRequest =
  'worker.challenge-add' | 'worker.challenge-remove' | 'worker.certificates-changed';

/**
 * Send a request to every running worker and wait for all of them; throws
 * an IpcError that names each worker that failed and why. `noWorker`, when
 * given, makes "no worker is running" an error too, with that advice.
 */
async function everyWorker<T extends WorkerRequest & RequestType>(
  supervisor: Supervisor,
  type: T,
  payload: RequestPayload<T>,
  about: { what: string; noWorker?: string },
): Promise<number> {
  const workers = supervisor.running('worker');
  if (workers.length === 0 && about.noWorker) {
    throw new IpcError('unavailable', `${about.what}: no worker is running; ${about.noWorker}`);
  }
  const results = await Promise.allSettled(
    workers.map(({ channel }) =>
      channel.request(type, payload, requestTimeout(type), 'supervisor'),
    ),
  );
  const failures = results.flatMap((result, index) =>
    result.status === 'rejected'
      ? [`worker ${workers[index]?.instance ?? '?'}: ${messageOf(result.reason)}`]
      : [],
  );
  if (failures.length > 0) {
    // The envelope holds at most 4096 characters of message.
    const detail = failures.join('; ').slice(0, 3_000);
    throw new IpcError(
      'handler_failed',
      `${about.what} failed in ${failures.length} of ${workers.length} workers: ${detail}`,
      { reason: 'worker_failed' },
    );
  }
  return workers.length;
}

/** The challenge with its identifier spelled as the keyvault spells it; throws invalid_payload. */
function checkChallenge(request: RequestType, challenge: ChallengeSpec): ChallengeSpec {
  if (challenge.type === 'http-01') {
    // RFC 8555 section 8.1: keyAuthorization = token || '.' || thumbprint.
    if (!challenge.keyAuthorization.startsWith(`${challenge.token}.`)) {
      throw new IpcError(
        'invalid_payload',
        `${request}: the key authorization must begin with the token and a dot (RFC 8555 section 8.1)`,
      );
    }
    return challenge;
  }
  try {
    return {
      type: 'tls-alpn-01',
      identifier: checkIdentifier(challenge.identifier, { wildcard: false }),
    };
  } catch (error) {
    throw refusal(request, error);
  }
}

function refusal(what: string, error: unknown): IpcError {
  if (error instanceof NameError)
    return new IpcError('invalid_payload', `${what}: ${error.message}`);
  return new IpcError('handler_failed', `${what}: ${messageOf(error)}`);
}

function keyOf(challenge: ChallengeSpec): string {
  return challenge.type === 'http-01'
    ? `http-01 ${challenge.token}`
    : `tls-alpn-01 ${challengeServerName(challenge.identifier)}`;
}

function describe(challenge: ChallengeSpec): string {
  return challenge.type === 'http-01'
    ? 'http-01 challenge'
    : `tls-alpn-01 challenge for ${challenge.identifier.value}`;
}

/** Log fields: the identifier, never the token or key authorization. */
function fieldsOf(challenge: ChallengeSpec): Record<string, string> {
  return challenge.type === 'http-01'
    ? { challenge_type: challenge.type }
    : { challenge_type: challenge.type, identifier: challenge.identifier.value };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
