import type { Sql } from 'postgres'

export interface OperatorAction {
  action: string
  sale_id: number | null
  /** `done`, or the error code the action was answered with. */
  outcome: string
  /** The token's name (ADMIN_TOKENS) or its fingerprint; never the token. */
  operator: string
  client_ip: string | null
  request_id: string | null
}

export interface OperatorActionRow extends OperatorAction {
  id: string
  at: Date
}

export async function insertAction (sql: Sql, a: OperatorAction): Promise<void> {
  await sql`
    INSERT INTO operator_actions (action, sale_id, outcome, operator, client_ip, request_id)
    VALUES (${a.action}, ${a.sale_id}, ${a.outcome}, ${a.operator}, ${a.client_ip}, ${a.request_id})`
}

/** A page of the audit, newest first, of every sale or of one. */
export async function listActions (sql: Sql, offset: number, limit: number, saleId?: number): Promise<{ total: number; rows: OperatorActionRow[] }> {
  const where = saleId === undefined ? sql`` : sql`WHERE sale_id = ${saleId}`
  const [rows, [count]] = await Promise.all([
    sql<OperatorActionRow[]>`
      SELECT id::text, at, action, sale_id::int, outcome, operator, client_ip, request_id
        FROM operator_actions ${where} ORDER BY id DESC OFFSET ${offset} LIMIT ${limit}`,
    sql<{ n: number }[]>`SELECT count(*)::int AS n FROM operator_actions ${where}`,
  ])
  return { total: count!.n, rows }
}
