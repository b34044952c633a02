-- wrk script for learnloop: a weighted mix of request types, timed per type.
--
-- Environment (set by bench/load/run.py):
--   BENCH_DATA  a Lua file returning {slug=..., sessions={...}, exercises={...}}
--   BENCH_MIX   weights, e.g. "lesson=70,attempt=20,complete=5,dashboard=5"
--   BENCH_RATE  total requests/s to pace at (0 or unset: as fast as the server answers)
--   BENCH_OUT   where done() writes the per-type tallies
--   BENCH_LESSON  if set, every lesson view asks for this lesson number
--
-- wrk's own latency figures cannot be split by request type, and with several connections per
-- thread a response cannot be matched to its request by order. So each request carries an
-- X-Request-ID "<type>.<thread>.<seq>", which learnloop echoes (ObservabilityMiddleware); the
-- response hook looks up the send time by that id. Times come from CLOCK_MONOTONIC via the
-- LuaJIT FFI. Latencies go into a histogram (10 us steps below 10 ms, 100 us below 1 s, 1 ms
-- above) that done() merges across threads.
--
-- Pacing (BENCH_RATE): wrk's delay() hook holds each connection until its next slot on a
-- per-thread schedule (wrk2's idea). Latency is then measured from the slot, not from when the
-- request finally went out, so a stalled server is not hidden (coordinated omission).

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_id", thread_count)
  table.insert(threads, thread)
end

-- ------------------------------------------------------------------ per-thread state

local data, weights, kinds, total_weight
local sessions, exercises, slug
local seq = 0
local started = {}
stats = {}
local interval_us, next_slot = 0, 0
local slots, slot_head, slot_tail = {}, 1, 0
local fixed_lesson

local function parse_mix(text)
  local out, order = {}, {}
  for name, weight in string.gmatch(text, "([%w_]+)=(%d+)") do
    out[name] = tonumber(weight)
    table.insert(order, name)
  end
  return out, order
end

function init(args)
  data = dofile(os.getenv("BENCH_DATA"))
  sessions, exercises, slug = data.sessions, data.exercises, data.slug
  weights, kinds = parse_mix(os.getenv("BENCH_MIX") or "lesson=100")
  total_weight = 0
  for _, name in ipairs(kinds) do
    total_weight = total_weight + weights[name]
  end
  local rate = tonumber(os.getenv("BENCH_RATE") or "0") or 0
  local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1") or 1
  if rate > 0 then
    interval_us = 1000000 * nthreads / rate
  end
  fixed_lesson = tonumber(os.getenv("BENCH_LESSON") or "")
  math.randomseed(thread_id * 7919 + os.time())
  next_slot = now_us()
end

local function pick_kind()
  local r = math.random() * total_weight
  for _, name in ipairs(kinds) do
    r = r - weights[name]
    if r < 0 then return name end
  end
  return kinds[#kinds]
end

local function lesson_for(s)
  if fixed_lesson then return fixed_lesson end
  return s.lessons[math.random(#s.lessons)]
end

function request()
  local kind = pick_kind()
  local s = sessions[math.random(#sessions)]
  seq = seq + 1
  local id = kind .. "." .. thread_id .. "." .. seq
  local headers = {["Cookie"] = s.cookie, ["X-Request-ID"] = id}
  local method, path, body = "GET", "/dashboard", nil
  if kind == "lesson" then
    path = "/courses/" .. slug .. "/lessons/" .. lesson_for(s)
  elseif kind == "attempt" then
    -- As the lesson page's JavaScript posts a form: urlencoded, JSON back, CSRF header.
    local number = s.lessons[math.random(#s.lessons)]
    local choices = exercises[number]
    local ex = choices[math.random(#choices)]
    method = "POST"
    path = "/courses/" .. slug .. "/lessons/" .. number .. "/exercises/" .. ex.id
    body = ex.bodies[math.random(#ex.bodies)]
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["Accept"] = "application/json"
    headers["X-CSRF-Token"] = s.csrf
  elseif kind == "complete" then
    method = "POST"
    path = "/courses/" .. slug .. "/lessons/" .. s.lessons[math.random(#s.lessons)] .. "/complete"
    headers["Accept"] = "application/json"
    headers["X-CSRF-Token"] = s.csrf
  end
  local t = now_us()
  if slot_head <= slot_tail then
    -- Paced: time from the slot this request was due in, if that is earlier.
    local slot = slots[slot_head]
    slots[slot_head] = nil
    slot_head = slot_head + 1
    if slot < t then t = slot end
  end
  started[id] = t
  return wrk.format(method, path, headers, body)
end

-- Defined only when pacing: with any delay() wrk sends every request through a timer.
local function paced_delay()
  local t = now_us()
  local slot = next_slot
  next_slot = next_slot + interval_us
  slot_tail = slot_tail + 1
  slots[slot_tail] = slot
  local wait = (slot - t) / 1000
  if wait < 1 then return 0 end
  return math.floor(wait)
end
if (tonumber(os.getenv("BENCH_RATE") or "0") or 0) > 0 then
  delay = paced_delay
end

local function bucket(us)
  if us < 10000 then return math.floor(us / 10) * 10 end
  if us < 1000000 then return math.floor(us / 100) * 100 end
  return math.floor(us / 1000) * 1000
end

-- Tallies live in one flat table keyed by strings: wrk's thread:get() crashes copying nested
-- tables. Keys: "count <kind>", "error <kind>", "status <kind> <code>", "hist <kind> <us>".
local function add(key, n)
  stats[key] = (stats[key] or 0) + n
end

function response(status, headers, body)
  local id = headers["x-request-id"] or headers["X-Request-ID"]
  local t0 = id and started[id]
  if not t0 then
    add("unmatched", 1)
    return
  end
  started[id] = nil
  local kind = string.match(id, "^([%w_]+)%.")
  add("count " .. kind, 1)
  add("hist " .. kind .. " " .. bucket(now_us() - t0), 1)
  add("status " .. kind .. " " .. status, 1)
  if status ~= 200 then add("error " .. kind, 1) end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("stats")) do
      out:write(key, " ", n, "\n")
    end
  end
  out:write(string.format("wrk %d %d %d %d %d %d %d\n", summary.duration, summary.requests,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
  out:close()
end
