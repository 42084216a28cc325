/**
 * The control API: what the console and the CLI can ask of a running
 * Gatehouse. Served only on the local control socket; every answer is JSON,
 * errors included (`{ error: { code, message } }`).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import type { ChildInfo } from '../supervisor/managed-child.js';
import { IpcError } from '../ipc/channel.js';
import { registerAcmeAccountRoutes } from './acme-account.js';
import type { ChildRole, RequestPayload, RequestResult, RequestType } from '../ipc/messages.js';
import { StateError, type StateErrorCode } from '../state/errors.js';
import type { StateView } from '../state/service.js';
import { MAX_EVENT_PAGE } from '../state/limits.js';
import type { Domain, StoredEvent } from '../state/store.js';

export type RoleHealth = 'up' | 'degraded' | 'down';

export interface Health {
  /** ok: every process runs; degraded: every role has one running; down: a role has none. */
  status: 'ok' | 'degraded' | 'down';
  roles: Record<ChildRole, { state: RoleHealth; running: number; expected: number }>;
}

export interface ProcessRow {
  role: ChildRole | 'supervisor';
  instance: number | null;
  state: string;
  pid: number | null;
  uptime_ms: number | null;
  restarts: number;
  last_exit: string | null;
}

/** What the API reads from the supervisor; nothing else reaches it. */
export interface SupervisorView {
  health(): Health;
  children(): ChildInfo[];
  startedAt: number;
  /** Ask the role that answers `type`, as the supervisor. */
  ask<T extends RequestType>(type: T, payload: RequestPayload<T>): Promise<RequestResult<T>>;
  /** The domains and events in state.db. */
  state: StateView;
}

/** A domain as the API shows it. */
export interface DomainRow {
  name: string;
  /** ISO 8601. */
  added_at: string;
}

/** An event as the API shows it. */
export interface EventRow {
  id: number;
  /** ISO 8601, when the supervisor recorded it. */
  time: string;
  type: string;
  payload: unknown;
}

const importBody = z
  .object({
    chain_pem: z
      .string()
      .min(1)
      .max(256 * 1024),
    key_pem: z
      .string()
      .min(1)
      .max(16 * 1024),
  })
  .strict();

const addDomainBody = z.object({ name: z.string().max(1024) }).strict();

/** Query values are strings; an event id or a count is digits only. */
const count = z
  .string()
  .regex(/^[0-9]{1,15}$/)
  .transform(Number);
const eventsQuery = z
  .object({
    after: count.optional(),
    limit: count.pipe(z.number().int().min(1).max(MAX_EVENT_PAGE)).optional(),
  })
  .strict();

/** The HTTP status of each refusal of state.db. */
const STATE_ERROR_STATUS: Record<StateErrorCode, 400 | 409 | 500 | 503> = {
  invalid_domain_name: 400,
  too_many_domains: 409,
  invalid_event: 400,
  schema_too_new: 500,
  state_unreadable: 500,
  closed: 503,
};

export function createControlApi(view: SupervisorView): Hono {
  const app = new Hono();

  app.get('/v1/health', function getHealth(c) {
    const health = view.health();
    return c.json(health, health.status === 'down' ? 503 : 200);
  });

  app.get('/v1/processes', function getProcesses(c) {
    const rows: ProcessRow[] = [
      {
        role: 'supervisor',
        instance: null,
        state: 'running',
        pid: process.pid,
        uptime_ms: Date.now() - view.startedAt,
        restarts: 0,
        last_exit: null,
      },
      ...view.children().map(toRow),
    ];
    return c.json({ processes: rows });
  });

  app.get('/v1/certificates', async function listCertificates(c) {
    const { certificates } = await view.ask('keyvault.certificates', {});
    return c.json({ certificates });
  });

  app.post('/v1/certificates', async function importCertificate(c) {
    const body = importBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      return c.json(
        {
          error: {
            code: 'invalid_request',
            message:
              'Send JSON {"chain_pem": "<leaf then issuers, PEM>", "key_pem": "<private key, PEM>"}',
          },
        },
        400,
      );
    }
    const imported = await view.ask('keyvault.import-certificate', {
      chainPem: body.data.chain_pem,
      keyPem: body.data.key_pem,
    });
    return c.json({ certificate: imported }, 201);
  });

  app.delete('/v1/certificates/:id', async function deleteCertificate(c) {
    const { deleted } = await view.ask('keyvault.delete-certificate', {
      certificateId: c.req.param('id'),
    });
    if (!deleted) {
      return c.json(
        {
          error: {
            code: 'not_found',
            message: `No certificate ${c.req.param('id')}; see GET /v1/certificates`,
          },
        },
        404,
      );
    }
    return c.body(null, 204);
  });

  app.post('/v1/vault/rotate-master-key', async function rotateMasterKey(c) {
    const rotated = await view.ask('keyvault.rotate-master-key', {});
    return c.json({ master_key_id: rotated.masterKeyId, resealed: rotated.resealed });
  });

  app.get('/v1/ca/root', async function getCaRoot(c) {
    const { certificatePem } = await view.ask('keyvault.ca-root', {});
    return c.json({ certificate_pem: certificatePem });
  });

  app.get('/v1/domains', function listDomains(c) {
    return c.json({ domains: view.state.listDomains().map(toDomainRow) });
  });

  app.post('/v1/domains', async function addDomain(c) {
    const body = addDomainBody.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) {
      return c.json(
        {
          error: {
            code: 'invalid_request',
            message:
              'Send JSON {"name": "<DNS name or IP address>"}, such as {"name": "example.com"}',
          },
        },
        400,
      );
    }
    const { domain, added } = view.state.addDomain(body.data.name);
    return c.json({ domain: toDomainRow(domain), added }, added ? 201 : 200);
  });

  app.delete('/v1/domains/:name', function removeDomain(c) {
    const name = c.req.param('name');
    if (!view.state.removeDomain(name)) {
      return c.json(
        {
          error: {
            code: 'not_found',
            message: `No domain ${name}; see GET /v1/domains for the list`,
          },
        },
        404,
      );
    }
    return c.body(null, 204);
  });

  app.get('/v1/events', function listEvents(c) {
    const query = eventsQuery.safeParse(c.req.query());
    if (!query.success) {
      return c.json(
        {
          error: {
            code: 'invalid_request',
            message:
              `Query parameters: after=<event id> (events after that one) and ` +
              `limit=<1 to ${MAX_EVENT_PAGE}> (default 100); nothing else`,
          },
        },
        400,
      );
    }
    return c.json({ events: view.state.listEvents(query.data).map(toEventRow) });
  });

  registerAcmeAccountRoutes(app, view);

  app.notFound(function notFound(c) {
    return c.json(
      {
        error: {
          code: 'not_found',
          message: `No such endpoint: ${c.req.method} ${c.req.path}. See the control API in the README.`,
        },
      },
      404,
    );
  });

  app.onError(function internalError(error, c) {
    if (error instanceof StateError) {
      return c.json(
        { error: { code: error.code, message: error.message } },
        STATE_ERROR_STATUS[error.code],
      );
    }
    // A role that is down or slow is the API's 503, with the reason.
    if (error instanceof IpcError && (error.code === 'unavailable' || error.code === 'timeout')) {
      return c.json({ error: { code: error.code, message: error.message } }, 503);
    }
    // What the keyvault refused was the caller's input: say why, as a 4xx.
    if (error instanceof IpcError && error.code === 'invalid_payload') {
      return c.json({ error: { code: 'invalid_request', message: error.message } }, 400);
    }
    if (error instanceof IpcError && error.code === 'handler_failed' && error.reason) {
      return c.json({ error: { code: error.reason, message: error.message } }, 422);
    }
    return c.json({ error: { code: 'internal', message: error.message } }, 500);
  });

  return app;
}

function toDomainRow(domain: Domain): DomainRow {
  return { name: domain.name, added_at: new Date(domain.addedAt).toISOString() };
}

function toEventRow(event: StoredEvent): EventRow {
  return {
    id: event.id,
    time: new Date(event.time).toISOString(),
    type: event.type,
    payload: event.payload,
  };
}

function toRow(child: ChildInfo): ProcessRow {
  return {
    role: child.role,
    instance: child.instance ?? null,
    state: child.state,
    pid: child.pid ?? null,
    uptime_ms: child.uptimeMs ?? null,
    restarts: child.restarts,
    last_exit: child.lastExit ?? null,
  };
}
