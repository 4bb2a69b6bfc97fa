# Sourced by the GPU scripts when they run the binaries packed by bench/pack_devcarry.sh: unpacks
# the shared libraries (packed as one gzip'd tar, a third of their size, so that .devcarry/ stays
# small to copy to a GPU machine) and puts them on the library path. The tar is unpacked beside
# .devcarry/lib and moved into place whole, so a damaged archive leaves no half-filled folder.
if [ -f .devcarry/lib.tgz ] && [ ! -d .devcarry/lib ]; then
  unpack=$(mktemp -d .devcarry/unpack.XXXXXX)
  if ! tar xzf .devcarry/lib.tgz -C "$unpack" || [ ! -d "$unpack/lib" ]; then
    rm -rf "$unpack"
    echo ".devcarry/lib.tgz is damaged or holds no lib/ folder: run bench/pack_devcarry.sh again" >&2
    exit 1
  fi
  mv "$unpack/lib" .devcarry/lib && rm -rf "$unpack"
fi
export LD_LIBRARY_PATH=$PWD/.devcarry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# NCCL (training on several GPUs) is too large to carry; use the GPU image's own copy when the
# loader does not already find one (PyTorch's, or the toolkit's).
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2 '; then
  for d in /opt/torch/.venv/lib/python3*/site-packages/nvidia/nccl/lib /usr/local/cuda/lib64 /usr/local/cuda-*/lib64; do
    if [ -f "$d/libnccl.so.2" ]; then
      export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$d
      break
    fi
  done
fi
