// A scratch PostgreSQL database for a benchmark (created, dropped, and left-overs of killed runs removed), and the CPU
// its server backends spend, read from /proc when the server runs on this machine.

import { existsSync, readFileSync } from 'node:fs';
import postgres from 'postgres';
import { processCpu, totalCpuMicroseconds } from './processes.ts';

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface ScratchDatabase {
  /** DATABASE_URL for the server under test: the admin URL with the scratch database's name. */
  readonly url: string;
  readonly name: string;
  /** Why backend CPU cannot be read (server elsewhere, /proc not readable), or undefined when it can. */
  readonly backendCpuSkipReason: string | undefined;
  /** CPU microseconds of every backend connected to the scratch database now, by pid. */
  backendCpu(): Promise<Map<number, number>>;
  /** Drops the database (closing what still holds it) and the admin connection. */
  drop(): Promise<void>;
}

/** Names carry the bench's pid, so a later run can tell a killed run's database from a running one's. */
function scratchName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}`;
}

function ownerPid(name: string, prefix: string): number | undefined {
  const match = new RegExp(`^${prefix}_(\\d+)_`).exec(name);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Connects to the server `adminUrl` names, drops scratch databases of earlier runs of this prefix whose process is
 * gone (an interrupt cannot wait for an async drop), and creates a new one. Rejects when the server does not answer.
 */
export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 3, idle_timeout: 0, onnotice: () => {} });
  try {
    const stale = await admin<{ datname: string }[]>`
      SELECT datname FROM pg_database WHERE datname LIKE ${`${prefix}\\_%`}`;
    for (const { datname } of stale) {
      const pid = ownerPid(datname, prefix);
      if (pid !== undefined && !existsSync(`/proc/${pid}`)) {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      }
    }
    const name = scratchName(prefix);
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const backendCpuSkipReason = LOOPBACK_HOSTS.has(new URL(adminUrl).hostname)
      ? await probeProcAccess(admin)
      : `the server is not on this machine (${new URL(adminUrl).hostname})`;
    return {
      url: url.toString(),
      name,
      backendCpuSkipReason,
      async backendCpu() {
        const rows = await admin<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = ${name}`;
        const cpu = new Map<number, number>();
        for (const { pid } of rows) {
          try {
            cpu.set(pid, totalCpuMicroseconds(processCpu(pid)));
          } catch {
            // The backend ended between the query and the read.
          }
        }
        return cpu;
      },
      async drop() {
        try {
          await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } finally {
          await admin.end({ timeout: 1 });
        }
      },
    };
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    throw error;
  }
}

/** The admin connection's own backend: if its /proc/<pid>/stat is readable, so are the others'. */
async function probeProcAccess(admin: postgres.Sql): Promise<string | undefined> {
  const [row] = await admin<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
  if (row === undefined) return 'pg_backend_pid() returned nothing';
  try {
    // In another PID namespace the same number may be some other process of ours.
    const command = readFileSync(`/proc/${row.pid}/comm`, 'utf8').trim();
    if (command !== 'postgres')
      return `pid ${row.pid} here is "${command}", not a backend: another PID namespace`;
    processCpu(row.pid);
    return undefined;
  } catch (error) {
    return `cannot read /proc/${row.pid} of a backend (${(error as Error).message}): another PID namespace?`;
  }
}

export interface BackendCpuDelta {
  microseconds: number;
  /** Backends seen before and gone after: their CPU since the first reading is not counted. */
  lost: number;
}

/** CPU spent between two readings: deltas for backends in both, the whole life of backends that appeared. */
export function backendCpuDelta(before: Map<number, number>, after: Map<number, number>): BackendCpuDelta {
  let microseconds = 0;
  for (const [pid, cpu] of after) microseconds += cpu - (before.get(pid) ?? 0);
  let lost = 0;
  for (const pid of before.keys()) if (!after.has(pid)) lost += 1;
  return { microseconds, lost };
}
