-- The same embeddings request every time: after the first, every answer comes from the response cache.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.body = '{"model":"text-encoder","input":"In the beginning God created the heaven and the earth."}'
