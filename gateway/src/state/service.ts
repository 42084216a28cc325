/**
 * The supervisor's side of state.db: what the control API and the IPC
 * handlers call. A change to the domains is written first and then told to
 * the acme-agent; the agent reads the whole list again when told, and when
 * it starts, so a notice that does not arrive loses nothing but time.
 */
import type { AcmeEvent } from '../ipc/acme-messages.js';
import type { Logger } from '../log/logger.js';
import { parseDomainName } from './names.js';
import type { Domain, StateStore, StoredEvent } from './store.js';

/** What the control API may do with state.db. */
export interface StateView {
  listDomains(): Domain[];
  /** Throws StateError `invalid_domain_name` or `too_many_domains`. */
  addDomain(name: unknown): { domain: Domain; added: boolean };
  /** False when the domain was not there; throws StateError `invalid_domain_name`. */
  removeDomain(name: unknown): boolean;
  listEvents(options: { limit?: number; after?: number }): StoredEvent[];
}

/** Tells the acme-agent that the domains changed; rejects with an IpcError. */
export type NotifyDomainsChanged = () => Promise<unknown>;

export class StateService implements StateView {
  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly notifyDomainsChanged: NotifyDomainsChanged,
  ) {}

  listDomains(): Domain[] {
    return this.store.listDomains();
  }

  addDomain(name: unknown): { domain: Domain; added: boolean } {
    const result = this.store.addDomain(name);
    if (result.added) {
      this.log.info('domain added', { domain: result.domain.name });
      this.domainsChanged();
    }
    return result;
  }

  removeDomain(name: unknown): boolean {
    const removed = this.store.removeDomain(name);
    if (removed) {
      this.log.info('domain removed', { domain: parseDomainName(name).name });
      this.domainsChanged();
    }
    return removed;
  }

  listEvents(options: { limit?: number; after?: number }): StoredEvent[] {
    return this.store.listEvents(options);
  }

  /** The answer to supervisor.domains. */
  domainsForAgent(): { domains: { name: string }[] } {
    return { domains: this.store.listDomains().map((domain) => ({ name: domain.name })) };
  }

  /**
   * Keeps an event the acme-agent reported and logs it. A write that fails
   * (a full disk) is logged and the event dropped: the agent's work goes on.
   */
  recordAcmeEvent(event: AcmeEvent): void {
    const { type, ...payload } = event;
    const fields = {
      event: type,
      identifier: event.identifiers.map((identifier) => identifier.value).join(','),
      ...(event.orderUrl === undefined ? {} : { order_url: event.orderUrl }),
      ...(event.certificateId === undefined ? {} : { certificate_id: event.certificateId }),
      ...(event.problem === undefined
        ? {}
        : { problem: event.problem.detail ?? event.problem.type }),
      ...(event.retryAt === undefined ? {} : { retry_at: event.retryAt }),
    };
    try {
      const stored = this.store.appendEvent(type, payload);
      const level = type === 'certificate_failed' ? 'warn' : 'info';
      this.log[level]('acme event', { ...fields, event_id: stored.id });
    } catch (error) {
      this.log.error('could not record an acme event', { ...fields, error: asError(error) });
    }
  }

  /**
   * Told in the background: the change is already stored, and an agent that
   * is not running reads the list when it starts.
   */
  private domainsChanged(): void {
    this.notifyDomainsChanged().catch((error: unknown) => {
      if ((error as { code?: unknown }).code === 'unavailable') return;
      this.log.warn('could not tell the acme-agent that the domains changed', {
        error: asError(error),
      });
    });
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
