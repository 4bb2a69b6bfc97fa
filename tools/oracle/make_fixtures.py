#!/usr/bin/python3
"""PyTorch oracle for the CPU reference model (Debian python3-torch, CPU).

Builds the Llama-style model of src/model (RMSNorm, interleaved-pair RoPE, grouped-query causal
attention, SwiGLU w2(silu(w1 x) * w3 x), optional tied head) with the tensor names and flat
order of src/model/params.h, computes everything in float64 from float32 initial weights, and
writes one fixture per variant:

  tests/fixtures/oracle_gqa.bin   untied head
  tests/fixtures/oracle_tied.bin  tied embeddings

Fixture format (little-endian):
  char[8]  magic "KRORACL1"
  int32    vocab, hidden, layers, heads, kv_heads, intermediate, tie_word_embeddings, B, T, steps
  float32  rope_theta, rms_norm_eps, lr, beta1, beta2, adam_eps, weight_decay, clip
  int64    num_params (P)
  float32  params[P]            initial weights, flat layout of params.h
  int32    inputs[B*T], targets[B*T]
  float32  logits[B*T*vocab]    forward of the initial weights
  float32  loss                 mean cross-entropy
  float32  grads[P]             d loss / d params
  float32  losses[steps]        loss before each of `steps` AdamW steps (step k: zero grads,
                                forward, backward, clip the global norm to `clip` as
                                torch.nn.utils.clip_grad_norm_, AdamW; weight decay on the
                                2-D matrices except tok_embeddings)
Regenerate: /usr/bin/python3 tools/oracle/make_fixtures.py  (deterministic; writes both files).
"""
import math
import os
import struct

import torch
import torch.nn.functional as F

CONFIG = dict(vocab=48, hidden=24, layers=2, heads=4, kv_heads=2, intermediate=48, B=2, T=8,
              rope_theta=10000.0, eps=1e-5, init_std=0.1)
ADAM = dict(steps=10, lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, clip=1.0)


def layout(c, tied):
    """(name, shape, is_matrix) in the order of params.h."""
    d, hd = c["hidden"], c["hidden"] // c["heads"]
    q, kv, f = c["heads"] * hd, c["kv_heads"] * hd, c["intermediate"]
    out = [("tok_embeddings.weight", (c["vocab"], d), False)]
    for l in range(c["layers"]):
        p = f"layers.{l}."
        out += [(p + "attention_norm.weight", (d,), False), (p + "attention.wq.weight", (q, d), True),
                (p + "attention.wk.weight", (kv, d), True), (p + "attention.wv.weight", (kv, d), True),
                (p + "attention.wo.weight", (d, q), True), (p + "ffn_norm.weight", (d,), False),
                (p + "feed_forward.w1.weight", (f, d), True), (p + "feed_forward.w3.weight", (f, d), True),
                (p + "feed_forward.w2.weight", (d, f), True)]
    out.append(("norm.weight", (d,), False))
    if not tied:
        out.append(("output.weight", (c["vocab"], d), True))
    return out


def init_params(c, tied, seed):
    """float32 weights: matrices ~ N(0, init_std), norm gains ~ 1 + N(0, 0.1) (so their gradients matter)."""
    g = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape, _ in layout(c, tied):
        if len(shape) == 1:
            params[name] = 1.0 + 0.1 * torch.randn(shape, generator=g)
        else:
            params[name] = c["init_std"] * torch.randn(shape, generator=g)
    return params


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rope(x, cos, sin):
    """x: [B, T, heads, hd]; rotates the pairs (x[2i], x[2i+1]) by angle t * theta^(-2i/hd)."""
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


def forward(p, c, tied, inputs):
    B, T = inputs.shape
    d, H, KV = c["hidden"], c["heads"], c["kv_heads"]
    hd = d // H
    freqs = c["rope_theta"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    angle = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    dtype = p["norm.weight"].dtype
    cos, sin = (f(angle).to(dtype)[None, :, None, :] for f in (torch.cos, torch.sin))
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    x = p["tok_embeddings.weight"][inputs]
    for l in range(c["layers"]):
        w = lambda n: p[f"layers.{l}.{n}.weight"]
        h = rms_norm(x, w("attention_norm"), c["eps"])
        q = rope((h @ w("attention.wq").T).view(B, T, H, hd), cos, sin)
        k = rope((h @ w("attention.wk").T).view(B, T, KV, hd), cos, sin)
        v = (h @ w("attention.wv").T).view(B, T, KV, hd)
        k, v = k.repeat_interleave(H // KV, dim=2), v.repeat_interleave(H // KV, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # B, H, T, hd
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = scores.masked_fill(causal, float("-inf")).softmax(-1) @ v
        x = x + att.transpose(1, 2).reshape(B, T, H * hd) @ w("attention.wo").T
        h = rms_norm(x, w("ffn_norm"), c["eps"])
        x = x + (F.silu(h @ w("feed_forward.w1").T) * (h @ w("feed_forward.w3").T)) @ w("feed_forward.w2").T
    x = rms_norm(x, p["norm.weight"], c["eps"])
    return x @ (p["tok_embeddings.weight"] if tied else p["output.weight"]).T


def loss_of(logits, targets):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def make(path, tied, seed):
    c, a = CONFIG, ADAM
    names = layout(c, tied)
    p32 = init_params(c, tied, seed)
    g = torch.Generator().manual_seed(seed + 1)
    inputs = torch.randint(0, c["vocab"], (c["B"], c["T"]), generator=g)
    targets = torch.randint(0, c["vocab"], (c["B"], c["T"]), generator=g)

    p = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    logits = forward(p, c, tied, inputs)
    loss = loss_of(logits, targets)
    loss.backward()
    grads = {n: t.grad.clone() for n, t in p.items()}

    matrices = [p[n] for n, _, m in names if m]
    others = [p[n] for n, _, m in names if not m]
    opt = torch.optim.AdamW([dict(params=matrices, weight_decay=a["weight_decay"]), dict(params=others, weight_decay=0.0)],
                            lr=a["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"])
    losses = []
    for _ in range(a["steps"]):
        opt.zero_grad()
        l = loss_of(forward(p, c, tied, inputs), targets)
        l.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), a["clip"])
        opt.step()
        losses.append(l.item())

    flat = lambda d: torch.cat([d[n].reshape(-1).float() for n, _, _ in names])
    params, grad = flat(p32), flat(grads)
    with open(path + ".tmp", "wb") as f:
        f.write(b"KRORACL1")
        f.write(struct.pack("<10i", c["vocab"], c["hidden"], c["layers"], c["heads"], c["kv_heads"],
                            c["intermediate"], int(tied), c["B"], c["T"], a["steps"]))
        f.write(struct.pack("<8f", c["rope_theta"], c["eps"], a["lr"], a["beta1"], a["beta2"], a["eps"],
                            a["weight_decay"], a["clip"]))
        f.write(struct.pack("<q", params.numel()))
        f.write(params.numpy().astype("<f4").tobytes())
        f.write(inputs.int().numpy().astype("<i4").tobytes())
        f.write(targets.int().numpy().astype("<i4").tobytes())
        f.write(logits.detach().float().numpy().astype("<f4").tobytes())
        f.write(struct.pack("<f", loss.item()))
        f.write(grad.numpy().astype("<f4").tobytes())
        f.write(struct.pack(f"<{a['steps']}f", *losses))
    os.replace(path + ".tmp", path)
    print(f"{path}: {params.numel()} params, loss {loss.item():.6f}, losses {losses[0]:.5f} .. {losses[-1]:.5f}, "
          f"{os.path.getsize(path)} bytes")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures")
    make(os.path.normpath(os.path.join(out, "oracle_gqa.bin")), tied=False, seed=1234)
    make(os.path.normpath(os.path.join(out, "oracle_tied.bin")), tied=True, seed=4321)
