-- The KServe encoder request (bench/lua/kserve-encoder.lua's body) from a client that honours Retry-After: after a
-- 429 or 503 its connection waits the seconds the server asked for before sending again, as SDKs do.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.body = '{"inputs":[{"name":"input_ids","shape":[1,14],"datatype":"INT64","data":[2,50,51,52,53,54,55,56,57,58,59,60,61,3]},{"name":"attention_mask","shape":[1,14],"datatype":"INT64","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],"outputs":[{"name":"sentence_embedding"}]}'

local wait = 0

function response(status, headers, body)
  wait = 0
  if status == 429 or status == 503 then
    wait = (tonumber(headers["Retry-After"]) or 1) * 1000
  end
end

function delay()
  return wait
end
