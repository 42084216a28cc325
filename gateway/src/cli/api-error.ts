/** The message of a control API error body, or a description of what came back instead. */
export function apiErrorMessage(body: unknown): string {
  const error = (body as { error?: { message?: unknown } } | null)?.error;
  return typeof error?.message === 'string'
    ? error.message
    : `unexpected answer: ${JSON.stringify(body)}`;
}
