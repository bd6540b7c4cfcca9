import { Type } from '@sinclair/typebox'
import { CODE_PATTERN } from '../sale/keys.ts'
import { DecimalId, UserId } from './common.ts'

const Timestamp = Type.String({ format: 'date-time' })

/** `item_id` is accepted for `id`, as clients of other implementations send it. */
export const CheckoutQuery = Type.Object({
  user_id: UserId,
  id: Type.Optional(DecimalId),
  item_id: Type.Optional(DecimalId),
})
export const CheckoutReply = Type.Object({
  code: Type.String(),
  item_id: Type.Integer(),
  sale_id: Type.Integer(),
  expires_at: Timestamp,
})

export const PurchaseQuery = Type.Object({
  code: Type.String({ pattern: CODE_PATTERN, description: 'the code a checkout answered' }),
})
export const PurchaseReply = Type.Object({
  status: Type.Literal('purchased'),
  purchase_id: Type.String(),
  item_id: Type.Integer(),
  user_id: Type.String(),
  sale_id: Type.Integer(),
})

export const SaleReply = Type.Object({
  sale_id: Type.Integer(),
  starts_at: Timestamp,
  ends_at: Timestamp,
  per_user_limit: Type.Integer(),
  units_total: Type.Integer(),
  units_sold: Type.Integer(),
  units_reserved: Type.Integer(),
  units_available: Type.Integer(),
}, { description: 'The current sale' })

export const ItemsQuery = Type.Object({
  offset: Type.String({ pattern: '^(0|[1-9][0-9]{0,9})$', default: '0', description: 'items to skip (decimal)' }),
  limit: Type.String({ pattern: '^([1-9][0-9]{0,2}|1000)$', default: '100', description: '1 to 1000 (decimal)' }),
})
export const ItemsReply = Type.Object({
  total: Type.Integer(),
  items: Type.Array(
    Type.Object({
      id: Type.Integer(),
      name: Type.String(),
      image_url: Type.String(),
      stock: Type.Integer(),
      available: Type.Integer(),
    })
  ),
}, { description: 'A page of items; `total` counts them all' })

export const CreateSaleBody = Type.Object(
  {
    items: Type.Integer({ minimum: 1, maximum: 100_000 }),
    stock_per_item: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
    per_user_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    reservation_ttl_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    starts_at: Type.Optional(Timestamp),
    ends_at: Type.Optional(Timestamp),
  },
  { additionalProperties: false }
)
export const CreateSaleReply = Type.Object({
  sale_id: Type.Integer(),
  starts_at: Timestamp,
  ends_at: Timestamp,
  per_user_limit: Type.Integer(),
  reservation_ttl_seconds: Type.Integer(),
  items: Type.Integer(),
  stock_per_item: Type.Integer(),
  units_total: Type.Integer(),
}, { description: 'Created' })
