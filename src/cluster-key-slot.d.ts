// The hash slot of a Redis key, as Redis Cluster computes it (CRC16 of the key or its hash tag).
declare module 'cluster-key-slot' {
  function calculateSlot (key: string): number
  export default calculateSlot
}
