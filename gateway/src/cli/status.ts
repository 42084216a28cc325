/**
 * `gatehouse status`: each process of a running Gatehouse, read from the
 * control socket, as a table or as JSON.
 */
import path from 'node:path';
import { controlRequest } from '../control/client.js';
import type { Health, ProcessRow } from '../control/api.js';
import { table } from './table.js';

export async function statusCommand(dataDir: string, json: boolean): Promise<number> {
  const socket = path.join(dataDir, 'control.sock');
  const health = await controlRequest(socket, 'GET', '/v1/health');
  const processes = await controlRequest(socket, 'GET', '/v1/processes');
  const body = {
    health: health.body as Health,
    processes: (processes.body as { processes: ProcessRow[] }).processes,
  };

  if (json) {
    process.stdout.write(JSON.stringify(body, null, 2) + '\n');
  } else {
    process.stdout.write(`Gatehouse: ${body.health.status}\n\n`);
    process.stdout.write(processTable(body.processes));
  }
  return health.status === 200 ? 0 : 1;
}

function processTable(rows: ProcessRow[]): string {
  return table([
    ['ROLE', 'STATE', 'PID', 'UPTIME', 'RESTARTS', 'LAST EXIT'],
    ...rows.map((row) => [
      row.instance === null ? row.role : `${row.role} ${row.instance}`,
      row.state,
      row.pid === null ? '-' : String(row.pid),
      row.uptime_ms === null ? '-' : duration(row.uptime_ms),
      String(row.restarts),
      row.last_exit ?? '-',
    ]),
  ]);
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400)
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}
