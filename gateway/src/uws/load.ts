/**
 * Loads uWebSockets.js, on any glibc the project supports.
 *
 * The pinned package (@btc-vision/uwebsockets.js 20.57.0) ships binaries
 * linked against glibc 2.38. On 2.38 and newer they load as shipped. On older
 * glibc (Debian 12 has 2.36) we first load our compat addon, which defines
 * the three missing C23 functions under version GLIBC_2.38, with RTLD_GLOBAL,
 * and then a copy of the binary whose GLIBC_2.38 requirement is marked weak
 * (see elf-weaken.ts). The copy is made at build time into
 * gateway/native/build/uws/; when it is missing or stale at run time, a fresh
 * one is made in a private temporary directory and removed once loaded.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type * as uws from '@btc-vision/uwebsockets.js';

import { weakenVersionRequirement, weakenVersionRequirementInFile } from './elf-weaken.js';

declare module '@btc-vision/uwebsockets.js' {
  interface TemplatedApp {
    /**
     * Take over a connected, non-blocking TCP socket and run TLS (SSLApp) or
     * HTTP on it as if uWS had accepted it. Present in the binary, missing
     * from the package's types. It validates nothing: the fd must be an open
     * socket that nothing else (libuv included) watches, and after the call
     * uWS owns it; a wrong fd aborts the process.
     */
    adoptSocket(fd: number): void;
  }
}

export type UwsModule = typeof uws;
/** An App or SSLApp, with `adoptSocket`. */
export type UwsApp = uws.TemplatedApp;

/** The glibc version whose symbols the shipped binaries need. */
export const UWS_GLIBC_VERSION = 'GLIBC_2.38';

const here = path.dirname(fileURLToPath(import.meta.url));
const nativeBuild = path.resolve(here, '../../native/build');
export const COMPAT_ADDON_PATH = path.join(nativeBuild, 'Release/gatehouse_glibc_compat.node');
export const PATCHED_UWS_DIR = path.join(nativeBuild, 'uws');

const require = createRequire(import.meta.url);
let loaded: UwsModule | undefined;

/** Thrown when uWS cannot be loaded here; the message says what to do. */
export class UwsLoadError extends Error {
  override readonly name = 'UwsLoadError';
}

/**
 * Load uWS.js once per process (later calls return the same module). Throws
 * UwsLoadError when this platform has no binary or the compat addon was
 * never built.
 */
export function loadUws(): UwsModule {
  if (loaded !== undefined) return loaded;

  const shipped = shippedBinaryPath();
  if (!needsCompat()) {
    loaded = requireBinary(shipped);
    return loaded;
  }

  loadCompatAddon();
  const patched = path.join(PATCHED_UWS_DIR, path.basename(shipped));
  if (isPatchedCopyOf(patched, shipped)) {
    loaded = requireBinary(patched);
    return loaded;
  }

  // No usable build-time copy: make one that only this process can see. The
  // mapping survives the unlink, so nothing is left behind in /tmp.
  const privateDir = mkdtempSync(path.join(os.tmpdir(), 'gatehouse-uws-'));
  try {
    const copy = path.join(privateDir, path.basename(shipped));
    weakenVersionRequirementInFile(shipped, copy, UWS_GLIBC_VERSION);
    loaded = requireBinary(copy);
  } finally {
    rmSync(privateDir, { recursive: true, force: true });
  }
  return loaded;
}

/**
 * Make the build-time patched copy of the binary for this Node ABI and
 * architecture (scripts/setup runs it through the gateway build). Returns the
 * copy's path, or undefined where no copy is needed (not Linux).
 */
export function preparePatchedUws(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const shipped = shippedBinaryPath();
  const patched = path.join(PATCHED_UWS_DIR, path.basename(shipped));
  if (isPatchedCopyOf(patched, shipped)) return patched;
  weakenVersionRequirementInFile(shipped, patched, UWS_GLIBC_VERSION);
  return patched;
}

/** The runtime glibc version as [major, minor], or undefined without glibc. */
export function glibcVersion(): [number, number] | undefined {
  const report: unknown = process.report.getReport();
  const text = readPath(report, ['header', 'glibcVersionRuntime']);
  if (typeof text !== 'string') return undefined;
  const match = /^(\d+)\.(\d+)/.exec(text);
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2])];
}

function needsCompat(): boolean {
  if (process.platform !== 'linux') return false;
  const version = glibcVersion();
  if (version === undefined) {
    throw new UwsLoadError(
      'uWS.js needs glibc, and this Linux has none (musl?); run Gatehouse on a glibc distribution',
    );
  }
  const [major, minor] = version;
  return major < 2 || (major === 2 && minor < 38);
}

function shippedBinaryPath(): string {
  const packageDir = path.dirname(require.resolve('@btc-vision/uwebsockets.js'));
  const name = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const binary = path.join(packageDir, name);
  if (!existsSync(binary)) {
    throw new UwsLoadError(
      `uWS.js 20.57.0 has no binary ${name} for this platform and Node ${process.version}; ` +
        'use Node 20, 22, 24 or 25 on x64 or arm64',
    );
  }
  return binary;
}

function loadCompatAddon(): void {
  const { RTLD_NOW, RTLD_GLOBAL } = os.constants.dlopen;
  if (RTLD_NOW === undefined || RTLD_GLOBAL === undefined) {
    throw new UwsLoadError('this Node.js does not expose RTLD_NOW/RTLD_GLOBAL');
  }
  try {
    // RTLD_GLOBAL puts the three GLIBC_2.38 symbols in the global scope, where
    // the dynamic linker looks first when it binds the uWS binary.
    process.dlopen({ exports: {} }, COMPAT_ADDON_PATH, RTLD_NOW | RTLD_GLOBAL);
  } catch (cause) {
    throw new UwsLoadError(
      `glibc is older than 2.38 and the compat addon ${COMPAT_ADDON_PATH} could not be ` +
        'loaded; run scripts/setup to build it',
      { cause },
    );
  }
}

/** True when `copy` is exactly what patching `shipped` would produce now. */
function isPatchedCopyOf(copy: string, shipped: string): boolean {
  if (!existsSync(copy)) return false;
  const expected = readFileSync(shipped);
  weakenVersionRequirement(expected, UWS_GLIBC_VERSION);
  return expected.equals(readFileSync(copy));
}

function requireBinary(file: string): UwsModule {
  try {
    return require(file) as UwsModule;
  } catch (cause) {
    throw new UwsLoadError(`could not load the uWS.js binary ${file}`, { cause });
  }
}

function readPath(value: unknown, keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
