-- A POST in KServe's binary tensor extension: the body in AIFLEET_BODY, its JSON header's length in AIFLEET_HEADER_LENGTH.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.headers["Inference-Header-Content-Length"] = os.getenv("AIFLEET_HEADER_LENGTH")
local f = assert(io.open(os.getenv("AIFLEET_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
