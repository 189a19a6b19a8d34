/**
 * The Lua scripts of the Redis store: the checked profile write and the index-safe delete, each
 * atomic per user in Redis (redis_store.ts runs them by SHA).
 */

/**
 * Writes profiles unless the stored one is newer, and indexes their identifiers — per user
 * atomically, like KvStore's checked commit. A stale write indexes nothing (same as KV).
 * KEYS: per user its profile key then its ident keys. ARGV: user count, then per user
 * userId, updated_at, json, number of ident keys.
 */
export const SAVE_SCRIPT = `
local k, a, written = 1, 2, 0
for _ = 1, tonumber(ARGV[1]) do
  local userId, at, json, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  a = a + 4
  local cur = redis.call('HGET', KEYS[k], 'updated_at')
  if not cur or tonumber(cur) <= tonumber(at) then
    redis.call('HSET', KEYS[k], 'updated_at', at, 'json', json)
    for i = 1, n do redis.call('SET', KEYS[k + i], userId) end
    written = written + 1
  end
  k = k + 1 + n
end
return written`;

/**
 * Deletes a profile and those of the given ident keys that still point at the user (another
 * user may own an identifier by now), atomically. KEYS: profile key, ident keys. ARGV: userId.
 */
export const DELETE_SCRIPT = `
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1`;

/**
 * Registers a connector id unless `max` are registered: "known", "full" or "added".
 * KEYS: the connector list. ARGV: id, max.
 */
export const REGISTER_SCRIPT = `
local ids = redis.call('LRANGE', KEYS[1], 0, -1)
for _, v in ipairs(ids) do
  if v == ARGV[1] then return 'known' end
end
if #ids >= tonumber(ARGV[2]) then return 'full' end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 'added'`;
