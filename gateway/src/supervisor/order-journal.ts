/**
 * The supervisor's answers to the acme-agent's order journal requests
 * (supervisor.order-journal*, supervisor.order-caps and supervisor.ca-paused,
 * ipc/acme-messages.ts): the agent writes no file, so its orders in flight,
 * and when each CA created one, are kept in state.db here. A refusal by the
 * store (a full journal) goes back as an IpcError with the store's code.
 */
import { IpcError } from '../ipc/channel.js';
import type { RequestPayload } from '../ipc/messages.js';
import { OrderJournalError, type OrderJournalStore } from '../state/order-journal.js';
import type { Supervisor } from './supervisor.js';

export function answerOrderJournal(supervisor: Supervisor, journal: OrderJournalStore): void {
  const log = supervisor.log.child('order-journal');

  supervisor.answer('supervisor.order-journal', function listOrders() {
    return Promise.resolve({ orders: journal.list() });
  });

  supervisor.answer('supervisor.order-journal-save', function saveOrder(payload) {
    const { order } = payload as RequestPayload<'supervisor.order-journal-save'>;
    return refusing(() => {
      journal.save(order);
      log.debug('order journaled', {
        identifier: order.identifiers.map((identifier) => identifier.value).join(','),
        ...(order.orderUrl ? { order_url: order.orderUrl } : {}),
        ...(order.keyId ? { key_id: order.keyId } : {}),
      });
      return {};
    });
  });

  supervisor.answer('supervisor.order-caps', function listNewOrders(payload) {
    const { since } = payload as RequestPayload<'supervisor.order-caps'>;
    return Promise.resolve({ newOrders: journal.newOrders(since), pauses: journal.pauses() });
  });

  supervisor.answer('supervisor.ca-paused', function keepPause(payload) {
    const { issuer, until } = payload as RequestPayload<'supervisor.ca-paused'>;
    return refusing(() => {
      journal.pause(issuer, until);
      log.info('CA asked for no new orders for a while', {
        issuer,
        until: new Date(until).toISOString(),
      });
      return {};
    });
  });

  supervisor.answer('supervisor.order-journal-clear', function clearOrder(payload) {
    const { issuer, identifiers } = payload as RequestPayload<'supervisor.order-journal-clear'>;
    return refusing(() => ({ cleared: journal.clear(issuer, identifiers) }));
  });
}

function refusing<T>(write: () => T): Promise<T> {
  try {
    return Promise.resolve(write());
  } catch (error) {
    if (error instanceof OrderJournalError) {
      return Promise.reject(new IpcError('handler_failed', error.message, { reason: error.code }));
    }
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
