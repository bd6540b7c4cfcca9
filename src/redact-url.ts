/** A connection URL fit for a log line or an error message: its user and password hidden. */
export function redactUrl (url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@')
}
