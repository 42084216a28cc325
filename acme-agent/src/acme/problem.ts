/**
 * What goes wrong when talking to a CA, kept structured all the way to the
 * events the operator sees: the CA's problem document (RFC 8555 section
 * 6.7, RFC 7807) with its subproblems, or a description of an answer that
 * broke the protocol. Each error says whether retrying later can help.
 */
import type { ProblemDocument } from '@gatehouse/gateway/ipc';
import { z } from 'zod';

export const ACME_ERROR_NS = 'urn:ietf:params:acme:error:';

const identifierShape = z.object({ type: z.string().max(32), value: z.string().max(253) });
const problemShape: z.ZodType<RawProblem> = z.lazy(() =>
  z.object({
    type: z.string().max(256).optional(),
    detail: z.string().max(4096).optional(),
    status: z.number().int().optional(),
    identifier: identifierShape.optional(),
    subproblems: z.array(problemShape).max(100).optional(),
  }),
);
interface RawProblem {
  type?: string | undefined;
  detail?: string | undefined;
  status?: number | undefined;
  identifier?: { type: string; value: string } | undefined;
  subproblems?: RawProblem[] | undefined;
}

/** The CA answered with a problem document. */
export class AcmeProblemError extends Error {
  constructor(
    readonly problem: ProblemDocument,
    /** When the CA said to come back (Retry-After), as epoch ms. */
    readonly retryAfter: number | undefined,
  ) {
    super(describeProblem(problem));
    this.name = 'AcmeProblemError';
  }

  /** The ACME error name without its namespace, e.g. `badNonce`, or the full type. */
  get kind(): string {
    return this.problem.type.startsWith(ACME_ERROR_NS)
      ? this.problem.type.slice(ACME_ERROR_NS.length)
      : this.problem.type;
  }

  /** Worth trying again later: rate limits, the CA's own trouble. */
  get transient(): boolean {
    return (
      ['rateLimited', 'serverInternal', 'badNonce'].includes(this.kind) ||
      (this.problem.status ?? 0) >= 500
    );
  }
}

export type ProtocolErrorCode =
  | 'malformed_json'
  | 'wrong_content_type'
  | 'unexpected_status'
  | 'redirect'
  | 'invalid_resource'
  | 'missing_header';

/** The CA's answer broke RFC 8555: not worth a quick retry, but reported in full. */
export class AcmeProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AcmeProtocolError';
  }
}

/**
 * A problem document from a CA's JSON, with bounded sizes; anything that
 * is not one becomes `about:blank` carrying the HTTP status (RFC 7807
 * section 4.2), so a broken answer still reaches the operator structured.
 */
export function parseProblem(json: unknown, status: number): ProblemDocument {
  const parsed = problemShape.safeParse(json);
  if (!parsed.success) return { type: 'about:blank', status, detail: `HTTP ${status}` };
  return normalize(parsed.data, status);
}

function normalize(raw: RawProblem, status: number | undefined): ProblemDocument {
  const type = raw.identifier?.type;
  const identifier: ProblemDocument['identifier'] =
    raw.identifier && (type === 'dns' || type === 'ip')
      ? { type, value: raw.identifier.value }
      : undefined;
  const problem: ProblemDocument = {
    type: raw.type ?? 'about:blank',
    ...(raw.detail !== undefined ? { detail: raw.detail } : {}),
    ...((raw.status ?? status) !== undefined ? { status: raw.status ?? status } : {}),
    ...(identifier ? { identifier } : {}),
    ...(raw.subproblems
      ? { subproblems: raw.subproblems.map((sub) => normalize(sub, undefined)) }
      : {}),
  };
  return problem;
}

/** One line for logs and error messages: type, detail, and each subproblem's. */
export function describeProblem(problem: ProblemDocument): string {
  const name = problem.type.startsWith(ACME_ERROR_NS)
    ? problem.type.slice(ACME_ERROR_NS.length)
    : problem.type;
  const subs = (problem.subproblems ?? []).map(
    (sub) => `${sub.identifier?.value ?? '?'}: ${describeProblem(sub)}`,
  );
  return (
    `${name}${problem.status ? ` (HTTP ${problem.status})` : ''}` +
    (problem.detail ? `: ${problem.detail}` : '') +
    (subs.length > 0 ? ` [${subs.join('; ')}]` : '')
  );
}

/** Retry-After as epoch ms: delta-seconds or an HTTP date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,9}$/.test(trimmed)) return now + Number(trimmed) * 1000;
  // IMF-fixdate only: Date.parse alone reads "-5" or "2" as years.
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) {
    return undefined;
  }
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(now, date);
}
