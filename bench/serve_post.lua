-- wrk script for bench/serve: POSTs one completion request; BENCH_BODY overrides the body.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BENCH_BODY") or
  '{"prompt":"대한민국의 수도는","max_tokens":16,"temperature":0.8,"top_k":40,"top_p":0.95,"seed":1}'
