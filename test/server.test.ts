import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { startService } from '../kit/service-process.ts'
import { testDatabase, TEST_REDIS_URL } from './helpers/services.ts'
import { skipUnlessInstalled } from './helpers/optional-tools.ts'

t.test('the service listens with the backlog it is given, up to what the kernel allows', { skip: skipUnlessInstalled('ss') }, async (t) => {
  const { url } = await testDatabase(t)
  const service = await startService(t, { DATABASE_URL: url, REDIS_URL: TEST_REDIS_URL, LISTEN_BACKLOG: '1234' })
  // For a listening socket, ss reports the backlog as Send-Q.
  const { stdout } = await promisify(execFile)('ss', ['-Hltn', `sport = :${service.port}`])
  const [, , sendQ] = stdout.trim().split(/\s+/)
  t.equal(Number(sendQ), 1234, stdout.trim())
})
