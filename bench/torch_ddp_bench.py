# Data-parallel twin of the PyTorch anchor (../shared/anchors/torch_llama_bench.py): the anchor's
# own model and training step (bf16 autocast, SDPA flash attention, gradient clipping, fused
# AdamW, torch.compile), wrapped in DistributedDataParallel over every GPU of the machine, each
# GPU taking --B sequences. Compared with `train_cuda_bench --gpus N --batch N*B` by bench/train_cuda.
# Usage: torchrun --nproc_per_node N bench/torch_ddp_bench.py --anchor DIR [--models medium] [--B 16]
import argparse, json, os, sys, time

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


def bench(anchor, name, B, T, steps, rank, world):
    c = anchor.CFG[name]
    torch.manual_seed(0)
    model = anchor.LM(c).cuda()
    ddp = torch.compile(DistributedDataParallel(model, device_ids=[rank]))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    gen = torch.Generator(device="cuda").manual_seed(rank)
    x = torch.randint(0, anchor.V, (B, T + 1), device="cuda", generator=gen)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = ddp(x[:, :-1], x[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    dist.barrier()
    t0 = time.time()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dist.barrier()
    dt = (time.time() - t0) / steps
    tps = world * B * T / dt
    flops = anchor.flops_per_token(c, T) * tps
    return dict(impl="torch-ddp-compile", model=name, params_M=round(anchor.nparams(model) / 1e6, 1), gpus=world,
                B_per_gpu=B, T=T, step_ms=round(dt * 1e3, 1), tok_s=round(tps), tflops=round(flops / 1e12, 1),
                mfu_vs_989=round(flops / (989e12 * world), 3),
                peak_mem_GB=round(torch.cuda.max_memory_allocated() / 1e9, 1), loss=round(loss.item(), 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--anchor", required=True, help="folder holding torch_llama_bench.py")
    ap.add_argument("--models", default="medium")
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--T", type=int, default=2048)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    sys.path.insert(0, a.anchor)
    import torch_llama_bench as anchor

    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    for name in a.models.split(","):
        r = bench(anchor, name, a.B, a.T, a.steps, rank, world)
        if rank == 0:
            print(json.dumps(r), flush=True)
        torch.cuda.empty_cache()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
