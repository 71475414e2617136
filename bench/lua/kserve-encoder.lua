-- Baseline: the same sentence (tokenized) through KServe v2, with no tokenizer, budget or cache on the way.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("AIFLEET_KEY")
wrk.body = '{"inputs":[{"name":"input_ids","shape":[1,14],"datatype":"INT64","data":[2,50,51,52,53,54,55,56,57,58,59,60,61,3]},{"name":"attention_mask","shape":[1,14],"datatype":"INT64","data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1]}],"outputs":[{"name":"sentence_embedding"}]}'
