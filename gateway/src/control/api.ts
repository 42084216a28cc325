/**
 * The control API: what the console and the CLI can ask of a running
 * Gatehouse. Served only on the local control socket; every answer is JSON,
 * errors included (`{ error: { code, message } }`).
 */
import { Hono } from 'hono';
import type { ChildInfo } from '../supervisor/managed-child.js';
import { IpcError } from '../ipc/channel.js';
import type { ChildRole, RequestPayload, RequestResult, RequestType } from '../ipc/messages.js';

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
}

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

  app.get('/v1/ca/root', async function getCaRoot(c) {
    const { certificatePem } = await view.ask('keyvault.ca-root', {});
    return c.json({ certificate_pem: certificatePem });
  });

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
    // A role that is down or slow is the API's 503, with the reason.
    if (error instanceof IpcError && (error.code === 'unavailable' || error.code === 'timeout')) {
      return c.json({ error: { code: error.code, message: error.message } }, 503);
    }
    const reason = error instanceof IpcError ? error.reason : undefined;
    return c.json({ error: { code: reason ?? 'internal', message: error.message } }, 500);
  });

  return app;
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
