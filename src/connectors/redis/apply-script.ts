// The Lua script that applies a batch's counters exactly once, and the slot tags that keep it legal in a Cluster.
//
// Why a script: increments are not idempotent, and Kafka redelivers a batch whose offsets were not committed
// (a crash after the Redis write, before the Kafka commit). The script reads the stored position of each row's
// source/partition from the positions hash, skips rows at or before it, applies the others' HSET and
// HINCRBYFLOAT, and raises the stored positions, all in one atomic call: a replay finds its positions stored
// and adds nothing. A first pass checks every key's type and every counter's current value, so the second
// pass cannot fail half-way (Redis does not roll a script back).
import { createHash } from 'node:crypto';

export const APPLY_LUA = `
local function le(a, b) -- position a at or before b: decimal offsets by length then text, 'file:pos' by file then pos
  if a == b then return true end
  local fa, pa = string.match(a, '^(.*):(%d+)$')
  local fb, pb = string.match(b, '^(.*):(%d+)$')
  if fa and fb then
    if fa ~= fb then return fa < fb end
    a, b = pa, pb
  end
  if string.match(a, '^%d+$') and string.match(b, '^%d+$') and #a ~= #b then return #a < #b end
  return a < b
end
local ttl = tonumber(ARGV[1])
local rows = {}
local i = 2
for k = 2, #KEYS do
  local r = { key = KEYS[k], pf = ARGV[i], off = ARGV[i + 1], nset = tonumber(ARGV[i + 2]), nincr = tonumber(ARGV[i + 3]), at = i + 4 }
  i = r.at + 2 * r.nset + 2 * r.nincr
  rows[#rows + 1] = r
end
local stored = {}
local result = {}
local raised = {}
for n, r in ipairs(rows) do
  if r.off ~= '' then
    if stored[r.pf] == nil then stored[r.pf] = redis.call('HGET', KEYS[1], r.pf) end
    if stored[r.pf] and le(r.off, stored[r.pf]) then r.skip = true; result[#result + 1] = n; result[#result + 1] = 'SKIPPED' end
  end
  if not r.skip then
    local t = redis.call('TYPE', r.key).ok
    if t ~= 'hash' and t ~= 'none' then r.skip = true; result[#result + 1] = n; result[#result + 1] = 'WRONGTYPE ' .. r.key .. ' holds a ' .. t
    else
      local base = r.at + 2 * r.nset
      for j = 0, r.nincr - 1 do
        local cur = redis.call('HGET', r.key, ARGV[base + 2 * j])
        if not r.skip and cur and not tonumber(cur) then
          r.skip = true; result[#result + 1] = n; result[#result + 1] = 'NOT_A_NUMBER hash field ' .. ARGV[base + 2 * j] .. ' of ' .. r.key .. ' holds ' .. cur
        end
      end
    end
    -- A refused row is handled too (it goes to the dead letters): its position counts.
    if r.off ~= '' then stored[r.pf] = r.off; raised[r.pf] = true end
  end
end
for _, r in ipairs(rows) do
  if not r.skip then
    if r.nset > 0 then
      local args = {}
      for j = 0, 2 * r.nset - 1 do args[#args + 1] = ARGV[r.at + j] end
      redis.call('HSET', r.key, unpack(args))
    end
    local base = r.at + 2 * r.nset
    for j = 0, r.nincr - 1 do redis.call('HINCRBYFLOAT', r.key, ARGV[base + 2 * j], ARGV[base + 2 * j + 1]) end
    if ttl > 0 then redis.call('PEXPIRE', r.key, ttl) end
  end
end
for pf, _ in pairs(raised) do redis.call('HSET', KEYS[1], pf, stored[pf]) end
return result
`;

export const APPLY_SHA = createHash('sha1').update(APPLY_LUA).digest('hex');

let tags: string[] | undefined;

/** A short hash tag per Cluster slot, so that each slot's rows and its own positions hash go in one script call. */
export function slotTag(slot: number): string {
  if (tags === undefined) {
    const found = new Array<string>(16384);
    let left = 16384;
    for (let n = 0; left > 0; n++) {
      const s = n.toString(36);
      const k = calculateSlot(s);
      if (found[k] === undefined) { found[k] = s; left--; }
    }
    tags = found;
  }
  return tags[slot]!;
}

/** The Cluster slot of a key: CRC16 (XModem) of its hash tag, or of the whole key, modulo 16384. */
export function calculateSlot(key: string): number {
  let s = key;
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) s = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(s, 'utf8')) {
    crc ^= byte << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
