#!/usr/bin/python3
"""Independent check of `krllm export`: reads only the exported files (safetensors + config.json
with Hugging Face's Llama conventions, or GGUF with llama.cpp's), runs the Llama forward pass in
float64 numpy and computes the perplexity of a token shard the way `krllm bench --eval_data` does
(windows of W tokens from the start, each scored from position 0).

  export_oracle.py ppl hf|gguf PATH SHARD N W EXPECTED RTOL   -> prints the relative difference
  export_oracle.py vocab GGUF TOKENIZER_MODEL                  -> checks tokens/scores/types/ids
"""
import json
import struct
import sys

import numpy as np


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def to_f64(raw, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(raw, "<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, "<f2")
    elif dtype == "BF16":
        a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
    elif dtype == "Q8_0":  # blocks of 32: an f16 scale, then 32 int8
        blocks = np.frombuffer(raw, np.dtype([("d", "<f2"), ("q", "i1", 32)]))
        a = (blocks["d"].astype(np.float64)[:, None] * blocks["q"]).ravel()
    else:
        fail("unknown dtype " + dtype)
    return a.astype(np.float64).reshape(shape)


# ---------------------------------------------------------------- Hugging Face directory

def load_hf(d):
    with open(d + "/model.safetensors", "rb") as f:
        blob = f.read()
    (hlen,) = struct.unpack_from("<Q", blob, 0)
    if hlen % 8:
        fail("safetensors header length %d is not a multiple of 8" % hlen)
    header = json.loads(blob[8:8 + hlen])
    if header.pop("__metadata__") != {"format": "pt"}:
        fail("bad __metadata__")
    data = blob[8 + hlen:]
    t = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        t[name] = to_f64(data[a:b], e["dtype"], e["shape"])
    with open(d + "/config.json") as f:
        c = json.load(f)
    if c["model_type"] != "llama" or c["architectures"] != ["LlamaForCausalLM"] or c["hidden_act"] != "silu":
        fail("config.json is not a Llama config")
    L = c["num_hidden_layers"]
    layers = []
    for i in range(L):
        p = "model.layers.%d." % i
        layers.append(dict(attn_norm=t[p + "input_layernorm.weight"], wq=t[p + "self_attn.q_proj.weight"],
                           wk=t[p + "self_attn.k_proj.weight"], wv=t[p + "self_attn.v_proj.weight"],
                           wo=t[p + "self_attn.o_proj.weight"], ffn_norm=t[p + "post_attention_layernorm.weight"],
                           gate=t[p + "mlp.gate_proj.weight"], up=t[p + "mlp.up_proj.weight"],
                           down=t[p + "mlp.down_proj.weight"]))
    emb = t["model.embed_tokens.weight"]
    if c["tie_word_embeddings"] == ("lm_head.weight" in t):
        fail("lm_head.weight presence does not match tie_word_embeddings")
    return dict(emb=emb, layers=layers, norm=t["model.norm.weight"], head=emb if c["tie_word_embeddings"] else t["lm_head.weight"],
                H=c["num_attention_heads"], KV=c["num_key_value_heads"], hd=c["head_dim"], eps=c["rms_norm_eps"],
                theta=c["rope_theta"], ctx=c["max_position_embeddings"], rope=rope_half)


def rope_half(x, pos, theta):
    """Hugging Face: inv_freq = theta^(-2i/hd), cos/sin of the angles concatenated, rotate_half."""
    hd = x.shape[-1]
    inv_freq = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.outer(pos, inv_freq)
    emb = np.concatenate([ang, ang], axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], axis=-1)
    return x * np.cos(emb) + rot * np.sin(emb)


# ---------------------------------------------------------------- GGUF file

class Reader:
    def __init__(self, blob):
        self.b, self.p = blob, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.b[self.p:self.p + n].decode("utf-8")
        self.p += n
        return s

    def value(self, vt):
        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
        if vt in scalar:
            return self.take(scalar[vt])
        if vt == 8:
            return self.string()
        if vt == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        fail("unknown GGUF value type %d" % vt)


def read_gguf(path):
    with open(path, "rb") as f:
        blob = f.read()
    r = Reader(blob)
    if blob[:4] != b"GGUF":
        fail("no GGUF magic")
    r.p = 4
    if r.take("I") != 3:
        fail("GGUF version is not 3")
    nt, nkv = r.take("Q"), r.take("Q")
    kv = {}
    for _ in range(nkv):
        k = r.string()
        kv[k] = r.value(r.take("I"))
    align = kv.get("general.alignment", 32)
    infos = []
    for _ in range(nt):
        name = r.string()
        dims = [r.take("Q") for _ in range(r.take("I"))]
        infos.append((name, dims, r.take("I"), r.take("Q")))
    start = (r.p + align - 1) // align * align
    types = {0: ("F32", 4), 1: ("F16", 2), 8: ("Q8_0", 34 / 32), 30: ("BF16", 2)}  # bytes per value
    t = {}
    for name, dims, ty, off in infos:
        if off % align:
            fail("tensor %s offset %d not aligned" % (name, off))
        dt, size = types[ty]
        n = int(np.prod(dims))
        t[name] = to_f64(blob[start + off:start + off + int(n * size)], dt, dims[::-1])  # dims are fastest-first
    return kv, t


def load_gguf(path):
    kv, t = read_gguf(path)
    if kv["general.architecture"] != "llama":
        fail("architecture is not llama")
    layers = []
    for i in range(kv["llama.block_count"]):
        p = "blk.%d." % i
        layers.append(dict(attn_norm=t[p + "attn_norm.weight"], wq=t[p + "attn_q.weight"], wk=t[p + "attn_k.weight"],
                           wv=t[p + "attn_v.weight"], wo=t[p + "attn_output.weight"], ffn_norm=t[p + "ffn_norm.weight"],
                           gate=t[p + "ffn_gate.weight"], up=t[p + "ffn_up.weight"], down=t[p + "ffn_down.weight"]))
    H = kv["llama.attention.head_count"]
    d = kv["llama.embedding_length"]
    emb = t["token_embd.weight"]
    return dict(emb=emb, layers=layers, norm=t["output_norm.weight"], head=t.get("output.weight", emb), H=H,
                KV=kv["llama.attention.head_count_kv"], hd=kv["llama.rope.dimension_count"],
                eps=kv["llama.attention.layer_norm_rms_epsilon"], theta=kv["llama.rope.freq_base"],
                ctx=kv["llama.context_length"], rope=rope_pairs) if d % H == 0 else fail("bad sizes")


def rope_pairs(x, pos, theta):
    """llama.cpp's llama (and krllm): rotate the interleaved pairs (x[2i], x[2i+1])."""
    hd = x.shape[-1]
    ang = np.outer(pos, theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd))[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * np.cos(ang) - b * np.sin(ang)
    out[..., 1::2] = a * np.sin(ang) + b * np.cos(ang)
    return out


# ---------------------------------------------------------------- the model

def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def forward(m, tokens):
    n, H, KV, hd = len(tokens), m["H"], m["KV"], m["hd"]
    pos = np.arange(n, dtype=np.float64)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    h = m["emb"][tokens]
    for ly in m["layers"]:
        a = rmsnorm(h, ly["attn_norm"], m["eps"])
        q = m["rope"]((a @ ly["wq"].T).reshape(n, H, hd), pos, m["theta"])
        k = m["rope"]((a @ ly["wk"].T).reshape(n, KV, hd), pos, m["theta"])
        v = (a @ ly["wv"].T).reshape(n, KV, hd)
        out = np.empty((n, H, hd))
        for hh in range(H):
            g = hh // (H // KV)
            s = q[:, hh] @ k[:, g].T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, hh] = (p / p.sum(axis=1, keepdims=True)) @ v[:, g]
        h = h + out.reshape(n, H * hd) @ ly["wo"].T
        a = rmsnorm(h, ly["ffn_norm"], m["eps"])
        g, u = a @ ly["gate"].T, a @ ly["up"].T
        h = h + (g / (1 + np.exp(-g)) * u) @ ly["down"].T
    return rmsnorm(h, m["norm"], m["eps"]) @ m["head"].T


def read_shard(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"KRTOKENS":
        fail("not a token shard: " + path)
    tb, = struct.unpack_from("<I", blob, 12)
    n, = struct.unpack_from("<Q", blob, 24)
    return np.frombuffer(blob[64:64 + n * tb], "<u2" if tb == 2 else "<u4").astype(np.int64)


def perplexity(m, toks, n, window):
    window = min(window, m["ctx"])
    n = min(n, len(toks))
    nll, counted = 0.0, 0
    for w0 in range(0, n - 1, window):
        w = toks[w0:min(w0 + window, n)]
        lg = forward(m, w[:-1])
        mx = lg.max(axis=1)
        lse = mx + np.log(np.exp(lg - mx[:, None]).sum(axis=1))
        nll += float((lse - lg[np.arange(len(w) - 1), w[1:]]).sum())
        counted += len(w) - 1
    return float(np.exp(nll / counted))


def check_vocab(gguf, model_file):
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
    kv, _ = read_gguf(gguf)
    V = sp.vocab_size()
    if kv["tokenizer.ggml.model"] != "llama":
        fail("tokenizer.ggml.model is not llama")
    if kv["tokenizer.ggml.tokens"] != [sp.id_to_piece(i) for i in range(V)]:
        fail("token list differs from the tokenizer's pieces")
    if kv["tokenizer.ggml.scores"] != [float(np.float32(sp.get_score(i))) for i in range(V)]:
        fail("scores differ from the tokenizer's")
    for i, ty in enumerate(kv["tokenizer.ggml.token_type"]):
        want = 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 5 if sp.is_unused(i) else (1, 4)
        if ty not in (want if isinstance(want, tuple) else (want,)):
            fail("token %d (%s) has type %d" % (i, sp.id_to_piece(i), ty))
    for key, want in (("bos", sp.bos_id()), ("eos", sp.eos_id()), ("unknown", sp.unk_id()), ("padding", sp.pad_id())):
        if kv["tokenizer.ggml.%s_token_id" % key] != want:
            fail("%s id %d, tokenizer says %d" % (key, kv["tokenizer.ggml.%s_token_id" % key], want))
    print("vocab: %d pieces match" % V)


def main():
    a = sys.argv[1:]
    if a[:1] == ["vocab"]:
        check_vocab(a[1], a[2])
        return
    kind, path, shard, n, window, expected, rtol = a[1], a[2], a[3], int(a[4]), int(a[5]), float(a[6]), float(a[7])
    m = load_hf(path) if kind == "hf" else load_gguf(path)
    ppl = perplexity(m, read_shard(shard), n, window)
    rel = abs(ppl - expected) / expected
    print("%s %s: numpy ppl %.6f, krllm %.6f, relative difference %.2e (tolerance %.0e)" % (kind, path.split("/")[-1], ppl, expected, rel, rtol))
    if not rel < rtol:
        fail("perplexity differs beyond tolerance")


main()
