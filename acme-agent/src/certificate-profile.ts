/**
 * Certificate profiles (draft-ietf-acme-profiles): a CA lists the profiles
 * it offers in its directory's meta.profiles, and a newOrder may name one.
 * Gatehouse sends the operator's profile only when the CA lists it; a
 * profile the CA does not list fails the order before it is placed, with
 * the profiles the CA does offer, rather than letting the CA guess.
 */
import type { Directory } from './acme/wire.js';
import { IssuerError } from './issuers.js';

/** The newOrder members for `profile` at this CA: `{ profile }`, or nothing when none is set. */
export function profileRequest(
  directory: Directory,
  directoryUrl: string,
  profile: string | undefined,
): { profile?: string } {
  if (profile === undefined) return {};
  const offered = Object.keys(directory.meta?.profiles ?? {});
  if (!offered.includes(profile)) {
    throw new IssuerError(
      'profile_not_offered',
      `${directoryUrl} does not offer the certificate profile "${profile}"` +
        (offered.length > 0
          ? `; it offers ${offered.map((name) => `"${name}"`).join(', ')}`
          : '; its directory lists no profiles'),
      {
        action:
          'Change or remove "profile" for this issuer in the --acme-issuers file ' +
          "(the CA's directory meta.profiles lists what it offers).",
      },
    );
  }
  return { profile };
}
