-- A new sentence every request: every answer runs the encoder and is reserved and settled on the budget. The
-- counter is spelled in letters (digits would all read as the same unknown token, and so hit the cache).
-- AIFLEET_SALT (letters) starts the sentences elsewhere, so that a second run does not meet the first run's cache.
local counter = 0
local salt = os.getenv("AIFLEET_SALT") or ""
local function letters(n)
  local s = ""
  repeat
    s = s .. string.char(97 + n % 26)
    n = math.floor(n / 26)
  until n == 0
  return s
end
request = function()
  counter = counter + 1
  local body = '{"model":"text-encoder","input":"In the beginning God created the heaven and the earth ' .. salt .. letters(counter) .. '"}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")}, body)
end
