#!/usr/bin/env python3
"""Writes the small token shards of tests/fixtures used by the `krllm train` CLI test:
a repetitive toy language (8 fixed sentences of ids 1..63, separator 0), vocabulary 64,
in the KRTOKENS format of src/data/shard.h.
Usage: tools/make_token_fixture.py tests/fixtures/tokens_v64_train.bin tests/fixtures/tokens_v64_val.bin"""
import random
import struct
import sys
import zlib


def write_shard(path, tokens, vocab=64, separator=0):
    payload = b"".join(struct.pack("<H", t) for t in tokens)
    docs = tokens.count(separator)
    header = b"KRTOKENS" + struct.pack("<IIIIQQI", 1, 2, vocab, separator, len(tokens), docs, zlib.crc32(payload))
    header += struct.pack("<I", zlib.crc32(header))
    with open(path, "wb") as f:
        f.write(header.ljust(64, b"\0") + payload)


def corpus(rng, sentences, n):
    out = []
    while len(out) < n:
        out += rng.choice(sentences) + [0]
    return out[:n]


rng = random.Random(1)
sentences = [[rng.randrange(1, 64) for _ in range(rng.randrange(6, 14))] for _ in range(8)]
write_shard(sys.argv[1], corpus(rng, sentences, 6000))
write_shard(sys.argv[2], corpus(rng, sentences, 1200))
