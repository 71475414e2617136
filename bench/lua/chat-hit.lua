-- A deterministic chat (temperature 0), the same every time: after the first, answered from the response cache.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.body = '{"model":"chat-lm","temperature":0,"max_tokens":20,"messages":[{"role":"user","content":"And God said, Let there be"}]}'
