-- A sampled chat streamed as server-sent events (temperature 1): never cached, 20 characters decoded step by step.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.body = '{"model":"chat-lm","temperature":1,"max_tokens":20,"stream":true,"messages":[{"role":"user","content":"And God said, Let there be"}]}'
