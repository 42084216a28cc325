/**
 * A small ELF patcher that marks a symbol version requirement weak.
 *
 * The uWS.js binaries require `GLIBC_2.38` from libc.so.6. On an older glibc
 * the dynamic linker refuses to load them, even when every symbol of that
 * version is provided by another object (our glibc compat addon). Setting
 * VER_FLG_WEAK on the requirement's Vernaux entry in `.gnu.version_r` turns
 * the refusal into silence, and symbol binding then finds the compat addon.
 *
 * Only ELF64 little-endian files are understood (the only kind uWS ships for
 * Linux x64 and arm64). Every offset is checked before use, and the file is
 * written only after the whole patch succeeded in memory, so a file that is
 * not what we expect is left untouched and reported with a clear error.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Why a file could not be patched; `code` is stable for callers and tests. */
export class ElfPatchError extends Error {
  override readonly name = 'ElfPatchError';
  constructor(
    readonly code: 'ELF_NOT_ELF64LE' | 'ELF_BAD_SECTIONS' | 'ELF_BAD_VERNEED',
    message: string,
  ) {
    super(message);
  }
}

export interface WeakenResult {
  /** Vernaux entries whose name matched the version. */
  matched: number;
  /** Of those, how many were not weak yet and were changed. */
  changed: number;
}

/** VER_FLG_WEAK, from elf.h: a missing version is not an error. */
export const VER_FLG_WEAK = 0x2;

const SHT_STRTAB = 3;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SECTION_HEADER_SIZE = 64;
const VERNEED_SIZE = 16;
const VERNAUX_SIZE = 16;

/**
 * Mark every requirement of `version` (for example 'GLIBC_2.38') weak in the
 * ELF image `image`, in place. Idempotent: a second call changes nothing.
 * Throws ElfPatchError, without modifying `image`, when the image is not a
 * well-formed ELF64 little-endian file with a `.gnu.version_r` section.
 */
export function weakenVersionRequirement(image: Uint8Array, version: string): WeakenResult {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const sections = readSectionHeaders(view);
  const verneed = findSection(view, sections, '.gnu.version_r', SHT_GNU_VERNEED);
  const dynstr = sections[verneed.link];
  if (dynstr === undefined || dynstr.type !== SHT_STRTAB) {
    throw new ElfPatchError(
      'ELF_BAD_VERNEED',
      `.gnu.version_r links to section ${verneed.link}, which is not a string table`,
    );
  }

  // Collect the flag offsets first and write them only once the whole chain
  // has been validated, so that a bad entry late in the chain changes nothing.
  const toFlag: number[] = [];
  let matched = 0;
  let entry = verneed.offset;
  for (let i = 0; i < verneed.info; i++) {
    need(view, entry, VERNEED_SIZE, verneed, 'Verneed entry');
    if (view.getUint16(entry, true) !== 1) {
      throw new ElfPatchError(
        'ELF_BAD_VERNEED',
        `Verneed entry at ${entry} has an unknown version`,
      );
    }
    const count = view.getUint16(entry + 2, true);
    let aux = entry + view.getUint32(entry + 8, true);
    for (let j = 0; j < count; j++) {
      need(view, aux, VERNAUX_SIZE, verneed, 'Vernaux entry');
      const name = readString(view, dynstr, view.getUint32(aux + 8, true));
      if (name === version) {
        matched++;
        if ((view.getUint16(aux + 4, true) & VER_FLG_WEAK) === 0) toFlag.push(aux + 4);
      }
      const nextAux = view.getUint32(aux + 12, true);
      if (nextAux === 0 && j + 1 < count) {
        throw new ElfPatchError('ELF_BAD_VERNEED', `Vernaux chain at ${aux} ends early`);
      }
      aux += nextAux;
    }
    const next = view.getUint32(entry + 12, true);
    if (next === 0 && i + 1 < verneed.info) {
      throw new ElfPatchError('ELF_BAD_VERNEED', `Verneed chain at ${entry} ends early`);
    }
    entry += next;
  }

  for (const at of toFlag) view.setUint16(at, view.getUint16(at, true) | VER_FLG_WEAK, true);
  return { matched, changed: toFlag.length };
}

/**
 * Read `source`, weaken `version` in memory and write the result to
 * `destination` (through a temporary file and a rename, so readers never see
 * half a file). Nothing is written when the patch fails or matches nothing.
 * Synchronous because the uWS loader runs it, at most once, while a module
 * is being loaded.
 */
export function weakenVersionRequirementInFile(
  source: string,
  destination: string,
  version: string,
): WeakenResult {
  const image = readFileSync(source);
  const result = weakenVersionRequirement(image, version);
  if (result.matched === 0) {
    throw new ElfPatchError(
      'ELF_BAD_VERNEED',
      `${source} does not require ${version}; it needs no patch (load it as shipped)`,
    );
  }
  mkdirSync(path.dirname(destination), { recursive: true });
  const temporary = `${destination}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, image, { mode: 0o755 });
    renameSync(temporary, destination);
  } catch (cause) {
    rmSync(temporary, { force: true });
    throw cause;
  }
  return result;
}

interface Section {
  nameOffset: number;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
}

function readSectionHeaders(view: DataView): Section[] {
  const isElf =
    view.byteLength >= 64 &&
    view.getUint32(0, false) === 0x7f454c46 &&
    view.getUint8(4) === 2 && // ELFCLASS64
    view.getUint8(5) === 1; // ELFDATA2LSB
  if (!isElf) {
    throw new ElfPatchError(
      'ELF_NOT_ELF64LE',
      'not an ELF64 little-endian file (bad magic, class or byte order)',
    );
  }

  const shoff = safeNumber(view.getBigUint64(0x28, true), 'e_shoff');
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  if (shentsize !== SECTION_HEADER_SIZE || shnum === 0) {
    throw new ElfPatchError(
      'ELF_BAD_SECTIONS',
      `unexpected section header table (entry size ${shentsize}, ${shnum} entries)`,
    );
  }
  if (shoff > view.byteLength || shnum * SECTION_HEADER_SIZE > view.byteLength - shoff) {
    throw new ElfPatchError('ELF_BAD_SECTIONS', 'section header table lies outside the file');
  }

  const sections: Section[] = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * SECTION_HEADER_SIZE;
    const section: Section = {
      nameOffset: view.getUint32(at, true),
      type: view.getUint32(at + 4, true),
      offset: safeNumber(view.getBigUint64(at + 24, true), `section ${i} offset`),
      size: safeNumber(view.getBigUint64(at + 32, true), `section ${i} size`),
      link: view.getUint32(at + 40, true),
      info: view.getUint32(at + 44, true),
    };
    // SHT_NOBITS (8) occupies no file bytes; everything else must fit.
    if (section.type !== 8 && section.offset + section.size > view.byteLength) {
      throw new ElfPatchError('ELF_BAD_SECTIONS', `section ${i} lies outside the file`);
    }
    sections.push(section);
  }
  return sections;
}

function findSection(view: DataView, sections: Section[], name: string, type: number): Section {
  const shstrndx = view.getUint16(0x3e, true);
  const names = sections[shstrndx];
  if (names === undefined || names.type !== SHT_STRTAB) {
    throw new ElfPatchError(
      'ELF_BAD_SECTIONS',
      'section name table is missing or not a string table',
    );
  }
  const found = sections.filter((s) => readString(view, names, s.nameOffset) === name);
  const section = found[0];
  if (found.length !== 1 || section === undefined) {
    throw new ElfPatchError(
      'ELF_BAD_SECTIONS',
      `expected one ${name} section, found ${found.length}`,
    );
  }
  if (section.type !== type) {
    throw new ElfPatchError(
      'ELF_BAD_SECTIONS',
      `${name} has type ${section.type}, expected ${type}`,
    );
  }
  return section;
}

/** Check that `size` bytes at `at` lie inside `section`. */
function need(view: DataView, at: number, size: number, section: Section, what: string): void {
  const end = section.offset + section.size;
  if (at < section.offset || at + size > end || at + size > view.byteLength) {
    throw new ElfPatchError('ELF_BAD_VERNEED', `${what} at ${at} lies outside .gnu.version_r`);
  }
}

/** A NUL-terminated ASCII string at `offset` inside string table `table`. */
function readString(view: DataView, table: Section, offset: number): string {
  if (offset >= table.size) {
    throw new ElfPatchError('ELF_BAD_SECTIONS', `string offset ${offset} lies outside its table`);
  }
  const start = table.offset + offset;
  const end = table.offset + table.size;
  let text = '';
  for (let at = start; at < end; at++) {
    const byte = view.getUint8(at);
    if (byte === 0) return text;
    text += String.fromCharCode(byte);
  }
  throw new ElfPatchError('ELF_BAD_SECTIONS', `string at ${start} is not terminated`);
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ElfPatchError('ELF_BAD_SECTIONS', `${what} is too large`);
  }
  return Number(value);
}
