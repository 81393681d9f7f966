-- Sends requests 16 at a time on each connection (HTTP/1.1 pipelining).
-- wrk -s bench/pipeline.lua URL -- 16
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end
