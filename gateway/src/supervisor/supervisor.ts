/**
 * The supervisor (`gatehouse run`): owns the data directory lock, the
 * listening sockets and the control socket; starts the keyvault, the
 * acme-agent and the gateway workers as separate processes and keeps them
 * running. It parses no internet traffic and holds no private key: the
 * listening sockets are created here only so that every worker, and every
 * restarted worker, shares the same ones.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createControlApi, type Health, type RoleHealth } from '../control/api.js';
import { serveControlSocket, type ControlServer } from '../control/server.js';
import { Logger } from '../log/logger.js';
import type { LogStream } from '../log/stream.js';
import { loadAcceptorAddon } from '../native/addon.js';
import { IpcError } from '../ipc/channel.js';
import {
  REQUESTS,
  requestTimeout,
  type ChildRole,
  type RequestPayload,
  type RequestResult,
  type RequestType,
  type Role,
} from '../ipc/messages.js';
import { CHILD_ENV } from '../ipc/child.js';
import { DNS_RFC2136_ENV } from '../ipc/dns-rfc2136.js';
import { ACME_ISSUERS_ENV } from '../ipc/acme-issuers.js';
import { answerChallenges } from './challenges.js';
import { childEnvironment } from './child-env.js';
import { lockDataDir, prepareDataDir, type DataDirLock } from './lock.js';
import {
  DEFAULT_BACKOFF,
  ManagedChild,
  type BackoffPolicy,
  type ChildInfo,
} from './managed-child.js';
import type { RunOptions } from './options.js';
import { openListeners, type Listener } from './listeners.js';
import { StateService } from '../state/service.js';
import { STATE_FILE, StateStore } from '../state/store.js';
import { answerOrderJournal } from './order-journal.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where each role's compiled entry file is, relative to this file. */
export const ROLE_ENTRIES: Record<ChildRole, string> = {
  keyvault: path.resolve(here, '../../../keyvault/dist/main.js'),
  'acme-agent': path.resolve(here, '../../../acme-agent/dist/main.js'),
  worker: path.resolve(here, '../worker/main.js'),
};

/** Environment variable through which workers learn what their inherited fds are. */
export const LISTENERS_ENV = 'GATEHOUSE_LISTENERS';

export interface SupervisorOptions extends RunOptions {
  logStream: LogStream;
  /** Replace a role's entry file; tests use it to play a misbehaving child. */
  entries?: Partial<Record<ChildRole, string>>;
  backoff?: BackoffPolicy;
}

/** Total time a stop may take before every child is killed. */
const STOP_DEADLINE_MS = 8_000;

/** Answers a request the supervisor itself handles; `origin` is the role that sent it. */
export type SupervisorHandler = (payload: unknown, origin: Role) => Promise<unknown>;

export class Supervisor {
  readonly startedAt = Date.now();
  private readonly children: ManagedChild[] = [];
  /** Requests whose `handledBy` is the supervisor, by type. */
  private readonly handlers = new Map<RequestType, SupervisorHandler>();
  private control: ControlServer | undefined;
  private lock: DataDirLock | undefined;
  private stateStore: StateStore | undefined;
  private state: StateService | undefined;
  private listeners: Listener[] = [];
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly options: SupervisorOptions,
    readonly log: Logger,
  ) {}

  static async start(options: SupervisorOptions): Promise<Supervisor> {
    const log = new Logger(
      (record) => {
        options.logStream.write({ role: 'supervisor', pid: process.pid }, record);
      },
      'supervisor',
      options.logLevel,
    );
    const supervisor = new Supervisor(options, log);
    try {
      await supervisor.boot();
    } catch (error) {
      await supervisor.stop();
      throw error;
    }
    return supervisor;
  }

  health(): Health {
    const roles = {} as Health['roles'];
    for (const role of ['keyvault', 'acme-agent', 'worker'] as const) {
      const mine = this.children.filter((child) => child.spec.role === role);
      const running = mine.filter((child) => child.info().state === 'running').length;
      const state: RoleHealth = running === 0 ? 'down' : running < mine.length ? 'degraded' : 'up';
      roles[role] = { state, running, expected: mine.length };
    }
    const states = Object.values(roles).map((role) => role.state);
    const status = states.includes('down')
      ? 'down'
      : states.includes('degraded')
        ? 'degraded'
        : 'ok';
    return { status, roles };
  }

  childInfo(): ChildInfo[] {
    return this.children.map((child) => child.info());
  }

  /** Drain and stop every child, close sockets, release the lock. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async boot(): Promise<void> {
    const { options, log } = this;
    prepareDataDir(options.dataDir);
    this.lock = lockDataDir(options.dataDir);
    process.title = 'gatehouse run';
    const state = this.openState();

    this.listeners = openListeners(loadAcceptorAddon(), options, log.child('listen'));

    const api = createControlApi({
      health: () => this.health(),
      children: () => this.childInfo(),
      startedAt: this.startedAt,
      ask: (type, payload) => this.ask(type, payload),
      state,
    });
    this.control = await serveControlSocket(
      api,
      path.join(options.dataDir, 'control.sock'),
      options.controlMode,
    );
    log.info('control socket ready', { path: this.control.path });

    answerChallenges(this);
    this.add('keyvault', undefined, []);
    this.add('acme-agent', undefined, []);
    for (let n = 1; n <= options.workers; n += 1) {
      this.add(
        'worker',
        n,
        this.listeners.map((listener) => listener.fd),
      );
    }
    for (const child of this.children) child.start();
  }

  private add(role: ChildRole, instance: number | undefined, inheritFds: number[]): void {
    const env: Record<string, string> = { [CHILD_ENV.logLevel]: this.options.logLevel };
    // The vault lives in the data directory; no other child reads it.
    if (role === 'keyvault') env.GATEHOUSE_DATA = this.options.dataDir;
    if (role === 'acme-agent') {
      // The agent reads no file: it gets the CA's extra root as text.
      env.GATEHOUSE_ACME_DIRECTORY = this.options.acmeDirectory;
      if (this.options.acmeTrust) env.GATEHOUSE_ACME_TRUST_PEM = this.options.acmeTrust;
      if (this.options.acmeEmail) env.GATEHOUSE_ACME_EMAIL = this.options.acmeEmail;
      env.GATEHOUSE_ACME_CHALLENGES = this.options.acmeChallenges.join(',');
      // The TSIG secret travels in the environment, never on a command line (ps shows those).
      if (this.options.acmeDnsRfc2136) env[DNS_RFC2136_ENV] = this.options.acmeDnsRfc2136;
      // The list of CAs, EAB keys included: this env goes to the acme-agent only (child-env.ts).
      if (this.options.acmeIssuers) {
        env[ACME_ISSUERS_ENV] = JSON.stringify(this.options.acmeIssuers);
      }
    }
    if (role === 'worker') {
      // The child sees inherited fds from 4 on, in this order.
      env[LISTENERS_ENV] = JSON.stringify(
        this.listeners.map((listener, index) => ({
          fd: 4 + index,
          scheme: listener.scheme,
          host: listener.host,
          port: listener.port,
        })),
      );
      env.GATEHOUSE_HTTPS_PORT = String(this.options.httpsPort);
      env.GATEHOUSE_HELLO_TIMEOUT_MS = String(this.options.helloTimeoutMs);
    }
    const child = new ManagedChild(
      {
        role,
        instance,
        entry: this.options.entries?.[role] ?? ROLE_ENTRIES[role],
        inheritFds,
        env: childEnvironment(role, process.env, env),
      },
      this.log.child('children'),
      this.options.logStream,
      this.options.backoff ?? DEFAULT_BACKOFF,
      (type, payload, origin) => this.route(type, payload, origin),
      (event) => {
        if (event.type === 'acme.event') this.state?.recordAcmeEvent(event.payload);
      },
    );
    this.children.push(child);
  }

  /** state.db: the domains the acme-agent asks for, and where its events are kept. */
  private openState(): StateService {
    this.stateStore = StateStore.open({ path: path.join(this.options.dataDir, STATE_FILE) });
    const state = new StateService(this.stateStore, this.log.child('state'), () =>
      this.ask('acme.domains-changed', {}),
    );
    this.state = state;
    this.answer('supervisor.domains', () => Promise.resolve(state.domainsForAgent()));
    answerOrderJournal(this, this.stateStore.orders);
    return state;
  }

  /** Ask the role that answers `type`, as the supervisor (for the control API). */
  ask<T extends RequestType>(type: T, payload: RequestPayload<T>): Promise<RequestResult<T>> {
    return this.route(type, payload, 'supervisor') as Promise<RequestResult<T>>;
  }

  /**
   * Pass a child's request on to the role that answers it. The sender's
   * channel has checked the allow-list and the payload; the answering
   * process checks both again for the origin named here.
   */
  private route(type: RequestType, payload: unknown, origin: Role): Promise<unknown> {
    const owner = REQUESTS[type].handledBy;
    if (owner === 'supervisor') return this.handle(type, payload, origin);
    const target = this.children.find((child) => child.spec.role === owner)?.runningChannel;
    if (!target) {
      return Promise.reject(
        new IpcError(
          'unavailable',
          `${type} cannot be answered now: the ${owner} is not running; retry shortly`,
        ),
      );
    }
    return target.request(
      type,
      payload as RequestPayload<typeof type>,
      requestTimeout(type),
      origin,
    );
  }

  /** Register the handler of a request that the supervisor answers itself. */
  answer(type: RequestType, handler: SupervisorHandler): void {
    if (REQUESTS[type].handledBy !== 'supervisor') {
      throw new Error(`${type} is not handled by the supervisor`);
    }
    this.handlers.set(type, handler);
  }

  private handle(type: RequestType, payload: unknown, origin: Role): Promise<unknown> {
    const handler = this.handlers.get(type);
    if (!handler) {
      return Promise.reject(
        new IpcError('unavailable', `${type} is not answered by this supervisor yet`),
      );
    }
    const parsed = REQUESTS[type].payload.safeParse(payload);
    if (!parsed.success) {
      return Promise.reject(
        new IpcError('invalid_payload', `${type}: ${parsed.error.issues[0]?.message ?? 'invalid'}`),
      );
    }
    return handler(parsed.data, origin);
  }

  /** The running children of a role, with their channels. */
  running(
    role: ChildRole,
  ): { instance: number | undefined; channel: NonNullable<ManagedChild['runningChannel']> }[] {
    return this.children
      .filter((child) => child.spec.role === role)
      .flatMap((child) => {
        const channel = child.runningChannel;
        return channel ? [{ instance: child.spec.instance, channel }] : [];
      });
  }

  private async shutdown(): Promise<void> {
    if (this.children.length > 0) this.log.info('stopping', { children: this.children.length });
    await Promise.all(this.children.map((child) => child.stop(STOP_DEADLINE_MS)));
    await this.control?.close();
    const addon = this.listeners.length > 0 ? loadAcceptorAddon() : undefined;
    for (const listener of this.listeners) addon?.closeFd(listener.fd);
    this.listeners = [];
    this.stateStore?.close();
    this.lock?.release();
    if (this.children.length > 0) this.log.info('stopped');
  }
}
