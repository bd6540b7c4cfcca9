import t from 'tap'
import { ReplyError } from 'ioredis'
import { isDependencyError, UnavailableError } from '../src/errors.ts'

/** A reply error as ioredis builds it from what Redis sent (`-CODE message`). */
const reply = (message: string): Error => new ReplyError(message) as Error

t.test('every refusal of a cluster in an election or a resharding, or of a server that cannot serve now, is a dependency error', async (t) => {
  const refusals = [
    'CLUSTERDOWN The cluster is down',
    'CLUSTERDOWN Hash slot not served',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'MOVED 3999 127.0.0.1:6381',
    'ASK 3999 127.0.0.1:6381',
    "READONLY You can't write against a read only replica.",
    'LOADING Redis is loading the dataset in memory',
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
    'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.',
    'NOREPLICAS Not enough good replicas to write.',
    'UNBLOCKED the stream key no longer exists',
    // A script's call refused on its way: Redis names the code after a dash.
    'ERR Error running script (call to f_1): @user_script:12: @user_script: 12: -READONLY You can\'t write against a read only replica.',
  ]
  for (const message of refusals) t.ok(isDependencyError(reply(message)), message)
})

t.test('every way a connection or a command gives out is a dependency error', async (t) => {
  const messages = [
    'Connection is closed.',
    'Connection is aborted',
    'Command aborted due to connection close',
    "Stream isn't writeable and enableOfflineQueue options is false",
    "Cluster isn't ready and enableOfflineQueue options is false",
    'Command timed out',
    'Socket timeout. Expecting data, but didn\'t receive any in 100ms.',
    'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
    'Failed to refresh slots cache.',
    // What a cluster client says once its redirections ran out during an election: the code is
    // not first, so it must not be read as a bug.
    'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down',
    'Too many Cluster redirections. Last error: Error: Connection is closed.',
    'No master node is available for the pipeline',
    'None of startup nodes is available',
    'Cluster is disconnected.',
    'Node is disconnected',
  ]
  for (const message of messages) t.ok(isDependencyError(new Error(message)), message)
  for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', '57P01']) {
    t.ok(isDependencyError(Object.assign(new Error('x'), { code })), code)
  }
  t.ok(isDependencyError(new UnavailableError('redis-replicas')), 'a WAIT shortfall')
})

t.test('what wraps a dependency error is one, and nothing else is', async (t) => {
  const closed = new Error('Connection is closed.')
  t.ok(isDependencyError(new Error('checkout failed', { cause: closed })), 'a cause')
  t.ok(isDependencyError(Object.assign(new Error('Failed to refresh slots cache.'), { lastNodeError: closed })), 'a last node error')
  t.ok(isDependencyError(new AggregateError([closed, reply('CLUSTERDOWN The cluster is down')])), 'an aggregate of them')
  t.notOk(isDependencyError(new AggregateError([closed, new TypeError('x is undefined')])), 'an aggregate with a bug in it')
  t.notOk(isDependencyError(new TypeError("Cannot read properties of undefined (reading 'id')")), 'a bug')
  t.notOk(isDependencyError(reply('ERR wrong number of arguments for \'hset\' command')), 'a wrong command')
  t.notOk(isDependencyError(reply('CROSSSLOT Keys in request don\'t hash to the same slot')), 'keys across slots: a bug')
  t.notOk(isDependencyError(reply('NOSCRIPT No matching script.')), 'a script to send again: the client does it')
  t.notOk(isDependencyError('Connection is closed.'), 'not an error at all')
  const loop: Error & { cause?: unknown } = new Error('loop')
  loop.cause = loop
  t.notOk(isDependencyError(loop), 'a cause that loops ends')
})
