/**
 * The control API's ACME account and revocation endpoints (RFC 8555
 * sections 7.3 and 7.6). Each checks its input here, then forwards it to
 * the acme-agent, the only process that talks to the CA; the agent answers
 * what the CA said. No key ever appears in an answer, only its thumbprint.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import {
  type AccountView,
  REVOCATION_REASONS,
  accountContact,
  revocationReason,
} from '../ipc/acme-messages.js';
import type { SupervisorView } from './api.js';

/** The account as the API shows it. */
export interface AccountRow {
  issuer: string;
  url: string;
  status: string;
  contact: string[];
  key_thumbprint: string;
}

const issuerQuery = z
  .object({
    issuer: z
      .url({ protocol: /^https$/ })
      .max(2048)
      .optional(),
  })
  .strict();
const updateBody = z.object({ contact: z.array(accountContact).max(4) }).strict();
const emptyBody = z.object({}).strict();
const deactivateBody = z.object({ confirm: z.literal(true) }).strict();
const reasonNames = Object.keys(REVOCATION_REASONS) as (keyof typeof REVOCATION_REASONS)[];
const revokeBody = z
  .object({
    reason: z
      .union([z.enum(reasonNames).transform((name) => REVOCATION_REASONS[name]), revocationReason])
      .optional(),
  })
  .strict();

const REASON_HELP =
  'reason is one of ' +
  reasonNames.map((name) => `"${name}" (${REVOCATION_REASONS[name]})`).join(', ') +
  '; the default is unspecified';

export function registerAcmeAccountRoutes(app: Hono, view: SupervisorView): void {
  app.get('/v1/acme/account', async function getAccount(c) {
    const issuer = issuerOf(c);
    if (issuer === false) return issuerError(c);
    const account = await view.ask('acme.account', issuer);
    return c.json({ account: toAccountRow(account) });
  });

  app.patch('/v1/acme/account', async function updateAccount(c) {
    const issuer = issuerOf(c);
    if (issuer === false) return issuerError(c);
    const body = updateBody.safeParse(await jsonBody(c));
    if (!body.success) {
      return invalid(
        c,
        'Send JSON {"contact": ["mailto:ops@example.com"]}: up to 4 mailto: addresses, ' +
          'or [] to remove them all',
      );
    }
    const account = await view.ask('acme.account-update', { ...issuer, ...body.data });
    return c.json({ account: toAccountRow(account) });
  });

  app.post('/v1/acme/account/key-change', async function changeKey(c) {
    const issuer = issuerOf(c);
    if (issuer === false) return issuerError(c);
    if (!emptyBody.safeParse(await jsonBody(c, {})).success) {
      return invalid(c, 'A key change takes no parameters: send no body, or {}');
    }
    const account = await view.ask('acme.account-key-change', issuer);
    return c.json({ account: toAccountRow(account) });
  });

  app.post('/v1/acme/account/deactivate', async function deactivate(c) {
    const issuer = issuerOf(c);
    if (issuer === false) return issuerError(c);
    if (!deactivateBody.safeParse(await jsonBody(c)).success) {
      return invalid(
        c,
        'Deactivation is final: the CA will refuse this account for good (RFC 8555 section ' +
          '7.3.6). Send JSON {"confirm": true} to go ahead',
      );
    }
    const account = await view.ask('acme.account-deactivate', issuer);
    return c.json({ account: toAccountRow(account) });
  });

  app.post('/v1/certificates/:id/revoke', async function revoke(c) {
    const issuer = issuerOf(c);
    if (issuer === false) return issuerError(c);
    const body = revokeBody.safeParse(await jsonBody(c, {}));
    if (!body.success) {
      return invalid(c, `Send JSON {"reason": "keyCompromise"} or no body; ${REASON_HELP}`);
    }
    const id = c.req.param('id');
    const { certificates } = await view.ask('keyvault.certificates', {});
    if (!certificates.some((certificate) => certificate.certificateId === id)) {
      return c.json(
        {
          error: {
            code: 'not_found',
            message: `No certificate ${id}; see GET /v1/certificates for their ids`,
          },
        },
        404,
      );
    }
    const revoked = await view.ask('acme.certificate-revoke', {
      ...issuer,
      certificateId: id,
      reason: body.data.reason ?? 0,
    });
    return c.json({
      revoked: {
        certificate_id: revoked.certificateId,
        serial: revoked.serial,
        reason: revoked.reason,
        identifiers: revoked.identifiers,
        issuer: revoked.issuer,
      },
    });
  });
}

function toAccountRow(account: AccountView): AccountRow {
  return {
    issuer: account.issuer,
    url: account.accountUrl,
    status: account.status,
    contact: account.contact,
    key_thumbprint: account.thumbprint,
  };
}

/** `?issuer=URL` as a payload part; false when it is not an https URL or other keys are given. */
function issuerOf(c: Context): { directoryUrl?: string } | false {
  const query = issuerQuery.safeParse(c.req.query());
  if (!query.success) return false;
  return query.data.issuer === undefined ? {} : { directoryUrl: query.data.issuer };
}

function issuerError(c: Context): Response {
  return invalid(
    c,
    'The only query parameter is issuer=<ACME directory URL, https>; leave it out for the ' +
      'configured --acme-directory',
  );
}

/** The JSON body; `empty` when none was sent; undefined when it is not JSON. */
async function jsonBody(c: Context, empty?: unknown): Promise<unknown> {
  const text = await c.req.text().catch(() => undefined);
  if (text === undefined) return undefined;
  if (text.trim() === '') return empty;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function invalid(c: Context, message: string): Response {
  return c.json({ error: { code: 'invalid_request', message } }, 400);
}
