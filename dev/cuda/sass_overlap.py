#!/usr/bin/env python3
"""How much softmax work each flash kernel step overlaps with the tensor cores, read from the
machine code (SASS) that ptxas writes, without a GPU or a disassembler.

Every step of a wgmma flash kernel waits twice: for the score products (`WARPGROUP.DEPBAR.LE
gsb0, 0x1`) and then for the accumulating ones (`... 0x0`). The exponentials (`MUFU.EX2`) that ptxas
places between the two waits run while the tensor cores still work; the rest wait for them.
bench/cuda_all.sh counts them with cuobjdump on the GPU machine; this reads the same count from
a cubin built here, so register and scheduling changes can be tried without GPU time.

    nvcc -O3 -std=c++17 -Isrc -gencode arch=compute_90a,code=sm_90a -cubin -o /tmp/a.cubin \\
        src/backend/cuda/attention_flash.cu
    dev/cuda/sass_overlap.py /tmp/a.cubin

It decodes only what it counts: on sm_90 an instruction is 16 bytes, its low 12 bits name the
opcode class (0x308 MUFU, 0x9c5 WARPGROUP), bits 8..13 of the second word the MUFU function (8:
EX2), bit 47 of the first word marks a WARPGROUP.DEPBAR and bits 8..15 of the second its count.
The encodings were read off cuobjdump's listing of the same kernels (CUDA 13 ptxas, sm_90a)."""
import struct
import sys


def sections(elf):
    shoff = struct.unpack_from("<Q", elf, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names = heads[shstrndx][4]
    for name, _, _, _, offset, size in heads:
        end = elf.index(b"\0", names + name)
        yield elf[names + name:end].decode(), elf[offset:offset + size]


def step_overlaps(code):
    """Exponentials between each 'wait for all but one group' and the next 'wait for all'."""
    counts, open_count = [], None
    for at in range(0, len(code) - 15, 16):
        w0, w1 = struct.unpack_from("<QQ", code, at)
        op = w0 & 0xFFF
        if op == 0x9C5 and (w0 >> 47) & 1:  # WARPGROUP.DEPBAR.LE gsb0, N
            pending = (w1 >> 8) & 0xFF
            if pending == 1:
                open_count = 0
            elif pending == 0 and open_count is not None:
                counts.append(open_count)
                open_count = None
        elif op == 0x308 and (w1 >> 8) & 0x3F == 8 and open_count is not None:  # MUFU.EX2
            open_count += 1
    return counts


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sass_overlap.py KERNELS.cubin (built for sm_90a)")
    with open(sys.argv[1], "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF":
        sys.exit(f"{sys.argv[1]}: not an ELF cubin (build with nvcc -cubin)")
    try:
        kernels = [(name, code) for name, code in sections(elf)]
    except (struct.error, ValueError, UnicodeDecodeError):
        sys.exit(f"{sys.argv[1]}: truncated or damaged cubin (build it again with nvcc -cubin)")
    found = False
    for name, code in kernels:
        if name.startswith(".text.") and "wgmma" in name:
            found = True
            print(f"{name[6:]}: exponentials between the waits of each step: {step_overlaps(code)}")
    if not found:
        sys.exit(f"{sys.argv[1]}: no wgmma kernels (was it built for sm_90a?)")


if __name__ == "__main__":
    main()
