# PyTorch's SDPA attention backends (FlashAttention-2 and cuDNN) at the trainer's attention
# shapes (B16 x T2048, causal, head size 64, medium's and large's heads): time, power and energy
# per call of the forward and of the backward, each back to back for 1 s between two readings of
# GPU 0's NVML energy counter. Ours, the same way: `.devcarry/bin/step_energy medium` (and large).
#   python3 bench/attention_energy.py     (on the GPU machine, with PyTorch)
import ctypes, time, torch
import torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend

nvml = ctypes.CDLL("libnvidia-ml.so.1"); nvml.nvmlInit_v2()
dev = ctypes.c_void_p(); nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev))
def joules():
    mj = ctypes.c_ulonglong(); nvml.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(mj)); return mj.value / 1e3

def measure(fn, seconds=1.0):
    fn(); torch.cuda.synchronize()
    t = time.time(); n = 0
    while time.time() - t < seconds / 2: fn(); n += 1
    torch.cuda.synchronize()
    reps = max(20, int(n * 2))
    t0, e0 = time.time(), joules()
    for _ in range(reps): fn()
    torch.cuda.synchronize()
    t1, e1 = time.time(), joules()
    return (t1 - t0) * 1e3 / reps, (e1 - e0) / (t1 - t0), (e1 - e0) / reps

print(torch.__version__, torch.cuda.get_device_name(), "cudnn", torch.backends.cudnn.version())
for name, H, KV in (("medium", 16, 4), ("large", 24, 6)):
    B, T, hd = 16, 2048, 64
    fl = 4.0 * B * H * T * T / 2 * hd
    q = torch.randn(B, H, T, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    k = torch.randn(B, KV, T, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    v = torch.randn(B, KV, T, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    kf = k.detach().repeat_interleave(H // KV, 1).requires_grad_()
    vf = v.detach().repeat_interleave(H // KV, 1).requires_grad_()
    do = torch.randn(B, H, T, hd, device="cuda", dtype=torch.bfloat16)
    for be in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        for gqa in (True, False):
            kk, vv = (k, v) if gqa else (kf, vf)
            try:
                with sdpa_kernel(be):
                    def fwd():
                        with torch.no_grad():
                            return F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=gqa)
                    o = F.scaled_dot_product_attention(q, kk, vv, is_causal=True, enable_gqa=gqa)
                    def bwd():
                        torch.autograd.grad(o, (q, kk, vv), do, retain_graph=True)
                    f = measure(fwd); b = measure(bwd)
                print(f"{name} {be.name:16s} gqa={gqa!s:5s} fwd {f[0]:.3f} ms {fl/f[0]/1e9:5.0f} TFLOP/s {f[1]:4.0f} W {f[2]*1e3:6.2f} mJ | "
                      f"bwd {b[0]:.3f} ms {2.5*fl/b[0]/1e9:5.0f} TFLOP/s {b[1]:4.0f} W {b[2]*1e3:6.2f} mJ", flush=True)
            except Exception as e:
                print(f"{name} {be.name} gqa={gqa}: {type(e).__name__}: {str(e)[:150]}", flush=True)
    del q, k, v, kf, vf, do
    torch.cuda.empty_cache()
