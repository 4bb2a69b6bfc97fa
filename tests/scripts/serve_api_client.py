"""Checks a running `krllm serve` over HTTP (called by test_serve_api.sh).

usage: serve_api_client.py PORT CONTEXT_TOKENS [API_KEY_PORT API_KEY]
Exits non-zero with a message on the first failed check. SERVE_TIMING_CHECKS=0 skips the checks
that need generations slow enough to overlap (batch sharing, cancellation on disconnect).
"""
import http.client
import json
import socket
import sys
import threading
import os
import time

PORT = int(sys.argv[1])
CONTEXT = int(sys.argv[2])
KEY_PORT = int(sys.argv[3]) if len(sys.argv) > 3 else 0
KEY = sys.argv[4] if len(sys.argv) > 4 else ""
TIMING = os.environ.get("SERVE_TIMING_CHECKS", "1") == "1"
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print("FAIL:", what, file=sys.stderr)
        sys.exit(1)


def request(method, path, body=None, headers=None, port=PORT, raw=None):
    """Returns (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    c.close()
    return out


def post(path, body, **kw):
    status, headers, data = request("POST", path, body, **kw)
    return status, headers, data


def completion(body, path="/v1/completions"):
    status, _, data = post(path, body)
    check(status == 200, f"{path} {body} -> {status} {data[:300]!r}")
    return json.loads(data)


def text_of(resp):
    ch = resp["choices"][0]
    return ch["message"]["content"] if "message" in ch else ch["text"]


def stream(body, path="/v1/completions"):
    """Sends a streaming request; returns (list of chunk objects, saw [DONE])."""
    status, headers, data = post(path, dict(body, stream=True))
    check(status == 200, f"stream {path} -> {status} {data[:300]!r}")
    check(headers.get("content-type", "").startswith("text/event-stream"), "SSE content type")
    events = data.decode("utf-8").split("\n\n")
    check(events[-1] == "", "stream ends with a blank line")
    chunks, done = [], False
    for ev in events[:-1]:
        check(ev.startswith("data: "), f"event format: {ev[:80]!r}")
        payload = ev[6:]
        check(not done, "nothing after [DONE]")
        if payload == "[DONE]":
            done = True
        else:
            chunks.append(json.loads(payload))
    check(done, "stream ends with data: [DONE]")
    return chunks


def streamed_text(chunks):
    out = []
    for c in chunks:
        for ch in c["choices"]:
            if "delta" in ch:
                out.append(ch["delta"].get("content", ""))
            else:
                out.append(ch["text"])
    return "".join(out)


def expect_error(status_wanted, path, body=None, raw=None, method="POST", param=None, code=None, headers=None, port=PORT):
    status, hdrs, data = request(method, path, body, raw=raw, headers=headers, port=port)
    check(status == status_wanted, f"{method} {path} {str(body or raw)[:100]} -> {status}, wanted {status_wanted}: {data[:200]!r}")
    err = json.loads(data)["error"]
    check(isinstance(err["message"], str) and err["message"], "error has a message")
    check(err["type"] in ("invalid_request_error", "server_error"), "error has a type")
    check("param" in err and "code" in err, "error has param and code")
    if param is not None:
        check(err["param"] == param, f"error param {err['param']!r}, wanted {param!r}")
    if code is not None:
        check(err["code"] == code, f"error code {err['code']!r}, wanted {code!r}")
    return err


def metrics():
    status, _, data = request("GET", "/metrics")
    check(status == 200, "/metrics")
    out = {}
    for line in data.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


# --- basics ---
status, _, data = request("GET", "/health")
check(status == 200 and json.loads(data)["status"] == "ok", "/health")
models = json.loads(request("GET", "/v1/models")[2])
check(models["object"] == "list" and len(models["data"]) == 1, "/v1/models lists the model")
MODEL = models["data"][0]["id"]
status, hdrs, page = request("GET", "/")
check(status == 200 and "text/html" in hdrs["content-type"] and "krllm" in page.decode(), "/ serves the demo page")
m0 = metrics()

# --- non-streaming ---
base = {"prompt": "대한민국의 수도는", "max_tokens": 24, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "seed": 7}
r1 = completion(base)
check(r1["object"] == "text_completion" and r1["model"] == MODEL, "completion envelope")
u = r1["usage"]
check(0 < u["completion_tokens"] <= 24 and u["prompt_tokens"] > 0 and u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], f"usage {u}")
check(r1["choices"][0]["finish_reason"] in ("stop", "length"), "finish reason")
check(completion(base)["choices"][0]["text"] == r1["choices"][0]["text"], "same seed, same text")
greedy = dict(base, temperature=0, seed=1)
check(text_of(completion(greedy)) == text_of(completion(dict(greedy, seed=2))), "greedy ignores the seed")
r_len = completion(dict(base, max_tokens=3))
check(r_len["usage"]["completion_tokens"] <= 3, "max_tokens respected")

chat = {"messages": [{"role": "system", "content": "친절하게 답하세요."}, {"role": "user", "content": "안녕하세요?"}],
        "max_tokens": 20, "seed": 11, "repetition_penalty": 1.2}
c1 = completion(chat, "/v1/chat/completions")
check(c1["object"] == "chat.completion" and c1["choices"][0]["message"]["role"] == "assistant", "chat envelope")

# --- streaming equals non-streaming ---
chunks = stream(base)
check(streamed_text(chunks) == text_of(r1), f"streamed text {streamed_text(chunks)!r} != {text_of(r1)!r}")
check(chunks[-1]["choices"][0]["finish_reason"] == r1["choices"][0]["finish_reason"], "stream finish reason")
check(all(c["id"] == chunks[0]["id"] and c["object"] == "text_completion" for c in chunks), "chunk ids/objects")
cchunks = stream(dict(chat, stream_options={"include_usage": True}), "/v1/chat/completions")
check(cchunks[0]["choices"][0]["delta"] == {"role": "assistant"}, "chat stream opens with the role")
check(all(c["object"] == "chat.completion.chunk" for c in cchunks), "chat chunk object")
check(cchunks[-1]["choices"] == [] and cchunks[-1]["usage"]["completion_tokens"] == c1["usage"]["completion_tokens"], "usage chunk")
check(streamed_text(cchunks) == text_of(c1), "chat stream text equals the whole answer")

# --- stop strings (cut before the first occurrence, streaming too) ---
full = text_of(completion(dict(base, max_tokens=48)))
stop_at = None
for i in range(2, len(full) - 2):
    piece = full[i:i + 2]
    if piece.strip() and full.find(piece) == i:
        stop_at = piece
        break
if stop_at:
    want = full[:full.find(stop_at)]
    rs = completion(dict(base, max_tokens=48, stop=[stop_at, "절대없을문자열"]))
    check(text_of(rs) == want and rs["choices"][0]["finish_reason"] == "stop", f"stop {stop_at!r}: {text_of(rs)!r} != {want!r}")
    check(streamed_text(stream(dict(base, max_tokens=48, stop=stop_at))) == want, "stop while streaming")

# --- 8 concurrent clients, each answer equal to its answer alone ---
jobs = [{"prompt": f"{i}번째 질문: 서울의 날씨는 어떤가요?" + "가" * i, "max_tokens": 40, "seed": 100 + i, "temperature": 0.9}
        for i in range(8)]
alone = [text_of(completion(j)) for j in jobs]
together = [None] * 8
peak_active = [0]
stop_sampling = threading.Event()


def sample_active():
    while not stop_sampling.is_set():
        peak_active[0] = max(peak_active[0], metrics().get("krllm_active_sequences", 0))
        time.sleep(0.005)


def run(i):
    together[i] = text_of(completion(jobs[i])) if i % 2 else streamed_text(stream(jobs[i]))


sampler = threading.Thread(target=sample_active)
sampler.start()
threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
stop_sampling.set()
sampler.join()
for i in range(8):
    check(together[i] == alone[i], f"client {i}: concurrent {together[i]!r} != alone {alone[i]!r}")
check(len(set(alone)) > 1, "different prompts/seeds give different answers")
if TIMING:
    check(peak_active[0] > 1, f"requests shared a batch (peak active sequences {peak_active[0]})")

# --- a client that disconnects is cancelled; the others go on ---
if TIMING:
    m1 = metrics()
    other = {}
    th = threading.Thread(target=lambda: other.update(r=completion(dict(jobs[3], max_tokens=120))))
    th.start()
    s = socket.create_connection(("127.0.0.1", PORT))
    body = json.dumps({"prompt": "끊어질 요청", "max_tokens": 200, "stream": True, "seed": 5}).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    got = b""
    while b"data: " not in got and len(got) < 65536:
        piece = s.recv(4096)
        if not piece:
            break
        got += piece
    check(b"data: " in got, f"disconnecting client got a first event: {got[:200]!r}")
    s.close()
    th.join()
    check(text_of(other["r"]) == text_of(completion(dict(jobs[3], max_tokens=120))), "neighbour unaffected by a disconnect")
    deadline = time.time() + 10
    while time.time() < deadline and metrics()["krllm_cancelled_total"] <= m1["krllm_cancelled_total"]:
        time.sleep(0.05)
    m2 = metrics()
    check(m2["krllm_cancelled_total"] > m1["krllm_cancelled_total"], "disconnect cancelled its generation")

# --- every error case gives an OpenAI-style error object ---
P = "/v1/completions"
expect_error(400, P, raw=b'{"prompt": "x",')  # truncated JSON
expect_error(400, P, raw=b"not json at all")
expect_error(400, P, raw=b"")
expect_error(400, P, raw=b'["prompt"]')
expect_error(400, P, raw=b'{"prompt": "x"} trailing')
expect_error(400, P, raw=b'{"prompt": "\xff\xfe"}', param="prompt")
expect_error(400, P, {"prompt": "x", "prompt_extra": 1}, param="prompt_extra")
if "fake" in MODEL:  # the real tokenizer adds BOS, so an empty prompt is still a valid start there
    expect_error(400, P, {"prompt": ""}, param="prompt")
expect_error(400, P, {"prompt": 5}, param="prompt")
expect_error(400, P, {"max_tokens": 5}, param="prompt")
expect_error(400, P, {"prompt": "x", "temperature": "hot"}, param="temperature")
expect_error(400, P, {"prompt": "x", "temperature": 9}, param="temperature")
expect_error(400, P, {"prompt": "x", "top_p": 0}, param="top_p")
expect_error(400, P, {"prompt": "x", "top_k": 1.5}, param="top_k")
expect_error(400, P, {"prompt": "x", "seed": -1}, param="seed")
expect_error(400, P, {"prompt": "x", "stream": "yes"}, param="stream")
expect_error(400, P, {"prompt": "x", "stop": 3}, param="stop")
expect_error(400, P, {"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, param="stop")
expect_error(400, P, {"prompt": "x", "stop": [""]}, param="stop")
expect_error(400, P, {"prompt": "x", "max_tokens": 0}, param="max_tokens")
expect_error(400, P, {"prompt": "x", "max_tokens": 10 ** 9}, param="max_tokens")
expect_error(400, P, {"prompt": "x", "n": 2}, param="n")
expect_error(400, P, {"prompt": "x", "repetition_penalty": 0}, param="repetition_penalty")
expect_error(400, P, raw=b'{"prompt": "x", "prompt": "y"}', param="prompt")
expect_error(400, P, {"prompt": "가" * (CONTEXT + 8)}, param="prompt", code="context_length_exceeded")
C = "/v1/chat/completions"
expect_error(400, C, {"messages": []}, param="messages")
expect_error(400, C, {"messages": [{"role": "robot", "content": "x"}]}, param="messages")
expect_error(400, C, {"messages": [{"role": "user"}]}, param="messages")
expect_error(400, C, {"messages": [{"role": "user", "content": "x", "name": "a"}]}, param="messages")
expect_error(400, C, {"prompt": "x"}, param="prompt")
expect_error(413, P, raw=b'{"prompt": "' + b"a" * 70000 + b'"}', code="request_too_large")
expect_error(404, "/v1/nothing", {"prompt": "x"}, code="unknown_url")
expect_error(404, "/etc/passwd", method="GET")
expect_error(405, P, method="GET", code="method_not_allowed")
expect_error(405, "/health", method="POST", raw=b"{}")
status, _, _ = request("GET", "/health")
check(status == 200, "server still healthy after the error cases")

# --- metrics moved ---
m3 = metrics()
def counter(m, route, code):
    return m.get(f'krllm_requests_total{{route="{route}",code="{code}"}}', 0)
check(counter(m3, P, 200) > counter(m0, P, 200) + 10, "completions counted")
check(counter(m3, P, 400) >= counter(m0, P, 400) + 20, "400s counted")
check(counter(m3, P, 413) >= 1 and counter(m3, "other", 404) >= 2, "413 / 404 counted")
check(m3["krllm_generated_tokens_total"] > m0["krllm_generated_tokens_total"] + 100, "generated tokens counted")
check(m3["krllm_request_duration_seconds_count"] > m0["krllm_request_duration_seconds_count"], "latency histogram")
check(m3['krllm_request_duration_seconds_bucket{le="+Inf"}'] == m3["krllm_request_duration_seconds_count"], "histogram +Inf = count")
check(m3["krllm_queue_length"] == 0 and m3["krllm_active_sequences"] == 0, "idle gauges")

# --- API key ---
if KEY_PORT:
    expect_error(401, P, {"prompt": "x"}, port=KEY_PORT, code="invalid_api_key")
    expect_error(401, P, {"prompt": "x"}, port=KEY_PORT, headers={"Authorization": "Bearer wrong"})
    expect_error(401, P, {"prompt": "x"}, port=KEY_PORT, headers={"Authorization": "Bearer " + KEY + "x"})
    expect_error(401, "/v1/models", method="GET", port=KEY_PORT)
    status, _, data = post(P, {"prompt": "x", "max_tokens": 2}, headers={"Authorization": "Bearer " + KEY}, port=KEY_PORT)
    check(status == 200, f"right key accepted: {status} {data[:200]!r}")
    check(request("GET", "/health", port=KEY_PORT)[0] == 200, "/health needs no key")

print(f"serve API: {checks} checks passed")
