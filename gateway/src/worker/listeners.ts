/**
 * The listening sockets a worker inherited from the supervisor, described
 * in an environment variable. Checked before use: a wrong fd handed to the
 * acceptor would accept on something that is not ours.
 */
import { z } from 'zod';

const listenersSchema = z
  .array(
    z.object({
      fd: z.number().int().min(3).max(1023),
      scheme: z.enum(['https', 'http']),
      host: z.string().max(64),
      port: z.number().int().min(1).max(65535),
    }),
  )
  .min(1)
  .max(32);

export type InheritedListener = z.infer<typeof listenersSchema>[number];

export function parseListeners(text: string | undefined): InheritedListener[] {
  if (!text) {
    throw new Error(
      'GATEHOUSE_LISTENERS is not set: workers are started by "gatehouse run", not by hand',
    );
  }
  const parsed = listenersSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(
      `GATEHOUSE_LISTENERS is malformed: ${parsed.error.issues[0]?.message ?? 'unknown'}`,
    );
  }
  return parsed.data;
}
