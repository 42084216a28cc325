/**
 * The environment each child starts with. Children inherit the
 * supervisor's environment (PATH, locale, NODE_OPTIONS, proxies) except
 * secrets, which go only to the role that needs them: the master key that
 * seals every private key reaches the keyvault and nobody else.
 */
import type { ChildRole } from '../ipc/messages.js';

/** Variables holding secrets, and the one role allowed to see each. */
export const SECRET_ENV: Readonly<Record<string, ChildRole>> = {
  GATEHOUSE_MASTER_KEY: 'keyvault',
  GATEHOUSE_ACME_DNS_RFC2136: 'acme-agent',
  // The CA list carries External Account Binding HMAC keys.
  GATEHOUSE_ACME_ISSUERS: 'acme-agent',
};

export function childEnvironment(
  role: ChildRole,
  inherited: NodeJS.ProcessEnv,
  own: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(inherited)) {
    if (value === undefined) continue;
    const owner = SECRET_ENV[name];
    if (owner !== undefined && owner !== role) continue;
    env[name] = value;
  }
  return { ...env, ...own };
}
