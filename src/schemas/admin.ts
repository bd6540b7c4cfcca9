import { Type } from '@sinclair/typebox'
import { DecimalId } from './common.ts'
import { CreateSaleReply } from './sale.ts'

const Timestamp = Type.String({ format: 'date-time' })
const Count = Type.Integer({ minimum: 0 })

export const SaleParams = Type.Object({ id: DecimalId })

export const PageQuery = Type.Object({
  offset: Type.String({ pattern: '^(0|[1-9][0-9]{0,9})$', default: '0', description: 'entries to skip (decimal)' }),
  limit: Type.String({ pattern: '^([1-9][0-9]{0,1}|100)$', default: '50', description: '1 to 100 (decimal)' }),
})
export const AuditQuery = Type.Object({
  ...PageQuery.properties,
  sale_id: Type.Optional(DecimalId),
})

// A sale as created (CreateSaleReply), with its state, its hour if scheduled, and its shards.
const { sale_id: saleId, ...created } = CreateSaleReply.properties
export const SaleView = Type.Object({
  sale_id: saleId,
  state: Type.Union([Type.Literal('scheduled'), Type.Literal('active'), Type.Literal('ended'), Type.Literal('cancelled')], {
    description: '`cancelled`: its window was emptied before it started (`DELETE`, or a sale created over it)',
  }),
  slot: Type.Union([Timestamp, Type.Null()], { description: 'the hour of a scheduled sale; null for an operator sale' }),
  ...created,
  shards: Type.Integer(),
  created_at: Timestamp,
})

export const SalesPage = Type.Object({
  total: Count,
  sales: Type.Array(SaleView),
}, { description: 'A page of sales, newest first; `total` counts them all' })

export const SaleReport = Type.Object({
  live: Type.Boolean({ description: 'true while the sale can still change (units from Redis); false once final (from Postgres)' }),
  units: Type.Object({ total: Count, sold: Count, reserved: Count, free: Count }),
  attempts: Type.Record(Type.String(), Count, { description: 'checkout attempts by outcome, as in `checkout_attempts.result`' }),
  attempts_total: Count,
  distinct_buyers: Count,
  purchases: Count,
  purchases_per_minute: Type.Object({
    average: Type.Number({ description: 'purchases over the minutes the sale has run' }),
    peak: Count,
  }),
  reservations: Type.Object({
    made: Count,
    purchased: Count,
    expired: Type.Integer({ minimum: 0, description: 'made, neither purchased nor still held: lapsed, or left when the sale ended' }),
  }),
  conversion: Type.Union([Type.Number(), Type.Null()], { description: 'purchased / reservations made; null before any reservation' }),
  sell_out_seconds: Type.Union([Type.Number(), Type.Null()], { description: 'from the start to the purchase of the last unit; null unless sold out' }),
})

export const SaleDetail = Type.Object({ sale: SaleView, report: SaleReport }, { description: 'The sale and its report' })

export const SaleChanged = Type.Object({ sale: SaleView }, { description: 'The sale as it is now' })

export const AuditEntry = Type.Object({
  id: Type.String(),
  at: Timestamp,
  action: Type.String(),
  sale_id: Type.Union([Type.Integer(), Type.Null()]),
  outcome: Type.String({ description: '`done`, or the error code the action was answered with' }),
  operator: Type.String({ description: 'the token\'s name in ADMIN_TOKENS, or `token:<fingerprint>` for ADMIN_TOKEN' }),
  client_ip: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.Union([Type.String(), Type.Null()]),
})

export const AuditPage = Type.Object({
  total: Count,
  actions: Type.Array(AuditEntry),
}, { description: 'A page of operator actions, newest first; `total` counts them all' })
