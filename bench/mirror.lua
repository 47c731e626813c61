-- wrk script for bench/mirror.sh: authenticated /community/avatar requests
-- spread over many sessions, a few per mille of them avatar changes.
--   wrk ... -s bench/mirror.lua URL -- COOKIE_FILE WRITES_PER_MILLE
-- (bench/mirror.sh appends a delay() for its paced rounds: wrk paces every
-- request once the script defines one, so this one does not.)
local cookies = {}
local writes = 20
local presets = {"owl", "fox", "cat", "bear", "panda", "frog"}

function init(args)
  for line in io.lines(args[1]) do
    if line ~= "" then cookies[#cookies + 1] = line end
  end
  writes = tonumber(args[2] or "20")
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local c = "sb_session=" .. cookies[math.random(#cookies)]
  if math.random(1000) <= writes then
    return wrk.format("PUT", "/community/avatar",
      {["Cookie"] = c, ["Content-Type"] = "application/json"},
      '{"avatar":"' .. presets[math.random(#presets)] .. '"}')
  end
  return wrk.format("GET", "/community/avatar", {["Cookie"] = c})
end
