-- A POST of the JSON body in the file AIFLEET_BODY names (bench/protocols.sh writes them).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
local f = assert(io.open(os.getenv("AIFLEET_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
