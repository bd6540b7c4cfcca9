import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'

/**
 * Tools some tests use that the README does not require (Node, Redis and Postgres are all
 * `npm test` needs), by the Debian package that has each.
 */
const PACKAGES = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
  'docker-compose': 'docker-compose',
  ss: 'iproute2',
} as const
export type OptionalTool = keyof typeof PACKAGES

/** Whether `tool` is an executable file in a directory of the PATH (what `command -v` finds). */
export function installed (tool: OptionalTool): boolean {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/**
 * The `skip` option of a test that needs `tool`: false when it is installed, else the reason,
 * naming the package to install. CI installs every tool (`.ci/run`), so there a missing tool is
 * not skipped: the test runs and fails, rather than passing without having run.
 */
export function skipUnlessInstalled (tool: OptionalTool): false | string {
  if (installed(tool) || process.env.CI) return false
  return `${tool} is not installed (Debian package ${PACKAGES[tool]}: apt-get install ${PACKAGES[tool]})`
}
