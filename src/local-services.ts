/** Placeholder replaced below. */
export async function ensureLocalServices(_env: Record<string, string | undefined>) {
  return { overrides: {}, stop: async () => {} }
}
