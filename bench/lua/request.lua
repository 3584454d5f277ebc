-- One request shape for wrk, with a fresh body per request.
-- Arguments (after wrk's `--`): method, path, body file ('-' for none), then "Name: value" headers.
-- Every "{n}" in the body becomes this thread's request counter (the bench runs one thread), so
-- each POST creates a new user and each PATCH changes something.
local method, path, template
local headers = {}
local counter = 0

function init(args)
  method, path = args[1], args[2]
  if args[3] ~= "-" then
    local file = assert(io.open(args[3], "rb"))
    template = file:read("*a")
    file:close()
  end
  for i = 4, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
end

function request()
  counter = counter + 1
  local body = nil
  if template then
    body = template:gsub("{n}", tostring(counter))
  end
  return wrk.format(method, path, headers, body)
end

-- One JSON line for the bench to read (times in microseconds; "status" counts HTTP >= 400).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
